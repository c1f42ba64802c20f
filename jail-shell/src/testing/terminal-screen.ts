/**
 * A small terminal emulator for tests: it applies what a program writes to a terminal (text, CR, LF,
 * backspace, cursor movement, erase) to a grid, so a test asserts what the user would see rather than
 * the bytes that drew it. Rows grow without limit (nothing scrolls off); colours are ignored.
 */
export class TerminalScreen {
  private readonly rows: string[][] = [[]];
  private row = 0;
  private column = 0;
  private pending = '';

  constructor(readonly columns = 80) {}

  write(data: string | Buffer): void {
    this.pending += typeof data === 'string' ? data : data.toString('utf8');
    let index = 0;
    while (index < this.pending.length) {
      const consumed = this.step(this.pending, index);
      if (consumed === 0) break;
      index += consumed;
    }
    this.pending = this.pending.slice(index);
  }

  /** Every row, without trailing blanks. */
  lines(): string[] {
    return this.rows.map((cells) => cells.join('').replace(/\s+$/, ''));
  }

  /** The row the cursor is on. */
  currentLine(): string {
    return this.lines()[this.row] ?? '';
  }

  get cursor(): { row: number; column: number } {
    return { row: this.row, column: this.column };
  }

  text(): string {
    return this.lines().join('\n');
  }

  /** Handles one character or sequence at `index`; returns how many code units it used (0: incomplete). */
  private step(input: string, index: number): number {
    const character = input[index] as string;
    if (character === '\x1b') return this.escape(input, index);
    switch (character) {
      case '\r':
        this.column = 0;
        return 1;
      case '\n':
        this.moveToRow(this.row + 1);
        return 1;
      case '\b':
        this.column = Math.max(0, this.column - 1);
        return 1;
      case '\t':
        this.column = Math.min(this.columns - 1, (Math.floor(this.column / 8) + 1) * 8);
        return 1;
      case '\x07':
        return 1;
    }
    const code = input.codePointAt(index) ?? 0;
    const length = code > 0xffff ? 2 : 1;
    if (code < 0x20) return length;
    if (this.column >= this.columns) {
      this.moveToRow(this.row + 1);
      this.column = 0;
    }
    const cells = this.cells();
    while (cells.length < this.column) cells.push(' ');
    cells[this.column] = input.slice(index, index + length);
    this.column += 1;
    return length;
  }

  private escape(input: string, index: number): number {
    const introducer = input[index + 1];
    if (introducer === undefined) return 0;
    if (introducer === ']') {
      // OSC: up to BEL or ESC backslash; ignored.
      const bell = input.indexOf('\x07', index);
      const terminator = input.indexOf('\x1b\\', index + 2);
      const ends = [bell, terminator].filter((at) => at >= 0);
      if (ends.length === 0) return 0;
      const end = Math.min(...ends);
      return end - index + (end === terminator ? 2 : 1);
    }
    if (introducer !== '[') return 2;
    let end = index + 2;
    while (end < input.length && !/[\x40-\x7e]/.test(input[end] as string)) end += 1;
    if (end >= input.length) return 0;
    const parameters = input.slice(index + 2, end);
    const numbers = parameters.split(';').map((part) => (part === '' ? undefined : Number(part)));
    const count = numbers[0] ?? 1;
    switch (input[end]) {
      case 'A':
        this.row = Math.max(0, this.row - count);
        break;
      case 'B':
        this.moveToRow(this.row + count);
        break;
      case 'C':
        this.column = Math.min(this.columns - 1, this.column + count);
        break;
      case 'D':
        this.column = Math.max(0, this.column - count);
        break;
      case 'G':
        this.column = Math.min(this.columns - 1, count - 1);
        break;
      case 'H':
      case 'f':
        this.moveToRow((numbers[0] ?? 1) - 1);
        this.column = (numbers[1] ?? 1) - 1;
        break;
      case 'J':
        if ((numbers[0] ?? 0) === 2) for (const cells of this.rows) cells.length = 0;
        break;
      case 'K': {
        const cells = this.cells();
        const mode = numbers[0] ?? 0;
        if (mode === 0) cells.length = Math.min(cells.length, this.column);
        else if (mode === 1)
          for (let at = 0; at <= this.column && at < cells.length; at += 1) cells[at] = ' ';
        else cells.length = 0;
        break;
      }
      default:
        break; // colours and modes do not change the text
    }
    return end - index + 1;
  }

  private moveToRow(row: number): void {
    this.row = Math.max(0, row);
    while (this.rows.length <= this.row) this.rows.push([]);
  }

  private cells(): string[] {
    return this.rows[this.row] as string[];
  }
}
