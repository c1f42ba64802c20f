import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TerminalScreen } from '../testing/terminal-screen.js';
import { completeCommandLine } from './command-completion.js';
import { KeyDecoder } from './key-decoder.js';
import { LineEditor, type LineEditorEvent } from './line-editor.js';

const PROMPT = 'jail> ';
const COMMANDS = [
  { words: ['vm', 'list'] },
  { words: ['vm', 'start'] },
  { words: ['vm', 'stop'] },
  { words: ['vm', 'checkpoint'], options: [{ name: 'message', takesValue: true }] },
  { words: ['vm', 'checkpoints'] },
  { words: ['help'] },
  { words: ['host', 'info'] },
];

const KEY_ARBITRARY = fc.constantFrom(
  'a',
  'b',
  ' ',
  'é',
  '\x7f',
  '\x1b[D',
  '\x1b[C',
  '\x01',
  '\x05',
  '\x15',
  '\x0b',
  '\x17',
  '\x19',
  '\x1bb',
  '\x1bf',
  '\x1b[3~',
  '\t',
);

/** An editor wired to a decoder and a screen, fed bytes like a terminal would send them. */
class Session {
  readonly screen: TerminalScreen;
  readonly events: LineEditorEvent[] = [];
  readonly editor: LineEditor;
  private readonly decoder = new KeyDecoder();
  written = '';

  constructor(columns = 80) {
    this.screen = new TerminalScreen(columns);
    this.editor = new LineEditor({
      prompt: PROMPT,
      columns: () => columns,
      complete: (text) => completeCommandLine(text, COMMANDS),
    });
    this.show(this.editor.prompt());
  }

  type(bytes: string | Buffer): this {
    let keys = this.decoder.decode(bytes);
    while (keys.length > 0) {
      const step = this.editor.handle(keys);
      this.show(step.output);
      keys = [...step.rest];
      if (step.event) {
        this.events.push(step.event);
        if (step.event.kind === 'line') this.show(this.editor.prompt());
      }
    }
    return this;
  }

  lines(): string[] {
    return this.events.flatMap((event) => (event.kind === 'line' ? [event.text] : []));
  }

  /** The row being edited as the user sees it, and where the cursor is in it. */
  visible(): { text: string; column: number } {
    return { text: this.screen.currentLine(), column: this.screen.cursor.column };
  }

  private show(output: string): void {
    this.written += output;
    this.screen.write(output);
  }
}

describe('LineEditor', () => {
  it('echoes typed text after the prompt and submits it on Enter', () => {
    const session = new Session().type('vm list');
    assert.deepEqual(session.visible(), { text: 'jail> vm list', column: 13 });
    session.type('\r');
    assert.deepEqual(session.lines(), ['vm list']);
    assert.deepEqual(session.screen.lines().slice(0, 2), ['jail> vm list', 'jail>']);
  });

  it('moves with the arrow keys and inserts in the middle', () => {
    const session = new Session().type('vm stat');
    session.type('\x1b[D').type('r');
    assert.deepEqual(session.visible(), { text: 'jail> vm start', column: 13 });
    session.type('\x1b[C\x1b[C').type(' web');
    assert.equal(session.visible().text, 'jail> vm start web');
  });

  it('understands the application-mode arrows (ESC O D) and Home/End sequences', () => {
    const session = new Session().type('list');
    session.type('\x1bOH').type('vm ');
    assert.deepEqual(session.visible(), { text: 'jail> vm list', column: 9 });
    session.type('\x1b[4~').type('!');
    assert.equal(session.editor.line, 'vm list!');
    session.type('\x1b[1~\x1b[3~');
    assert.equal(session.editor.line, 'm list!');
  });

  it('Ctrl-A and Ctrl-E go to the start and the end', () => {
    const session = new Session().type('host info');
    session.type('\x01');
    assert.equal(session.visible().column, PROMPT.length);
    session.type('\x05');
    assert.equal(session.visible().column, PROMPT.length + 'host info'.length);
  });

  it('backspace deletes before the cursor, also in the middle', () => {
    const session = new Session().type('vm lisst\x7f');
    assert.equal(session.visible().text, 'jail> vm liss');
    session.type('\x1b[D\x7f');
    assert.deepEqual(session.visible(), { text: 'jail> vm lis', column: 11 });
    session.type('\x08\x08\x08\x08');
    assert.equal(session.visible().text, 'jail> vs');
  });

  it('Ctrl-U kills to the start, Ctrl-K to the end, Ctrl-W the word before, Ctrl-Y yanks back', () => {
    const session = new Session().type('vm start web');
    session.type('\x17');
    assert.equal(session.visible().text, 'jail> vm start');
    session.type('\x19');
    assert.equal(session.visible().text, 'jail> vm start web');
    session.type('\x1b[D\x1b[D\x1b[D\x0b');
    assert.equal(session.visible().text, 'jail> vm start');
    session.type('\x15');
    assert.deepEqual(session.visible(), { text: 'jail>', column: PROMPT.length });
  });

  it('Alt-B and Alt-F move by words, Ctrl-arrows too', () => {
    const session = new Session().type('vm start web-1');
    session.type('\x1bb');
    assert.equal(session.visible().column, PROMPT.length + 'vm start web-'.length);
    session.type('\x1bb\x1bb');
    assert.equal(session.visible().column, PROMPT.length + 'vm '.length);
    session.type('\x1b[1;5C');
    assert.equal(session.visible().column, PROMPT.length + 'vm start'.length);
  });

  it('walks the history with Up and Down and keeps the line being typed', () => {
    const session = new Session().type('vm list\rhost info\r');
    session.type('vm st');
    session.type('\x1b[A');
    assert.equal(session.visible().text, 'jail> host info');
    session.type('\x1b[A');
    assert.equal(session.visible().text, 'jail> vm list');
    session.type('\x1b[A');
    assert.equal(session.visible().text, 'jail> vm list', 'the oldest entry stays');
    session.type('\x1b[B\x1b[B');
    assert.equal(session.visible().text, 'jail> vm st');
    session.type('\x10\r');
    assert.deepEqual(session.lines(), ['vm list', 'host info', 'host info']);
    assert.deepEqual(session.editor.historyEntries, ['vm list', 'host info'], 'no repeated entries');
  });

  it('completes a unique command word with a space after it', () => {
    const session = new Session().type('ho\t');
    assert.equal(session.visible().text, 'jail> host');
    assert.equal(session.editor.line, 'host ');
    session.type('i\t');
    assert.equal(session.editor.line, 'host info ');
  });

  it('completes to the common prefix, then lists the candidates on a second Tab', () => {
    const session = new Session().type('vm s\t');
    assert.equal(session.editor.line, 'vm st');
    session.type('\x1b[D\x1b[C');
    session.type('\t');
    assert.ok(session.written.endsWith('\x07'), 'a Tab without progress rings');
    assert.equal(session.screen.lines().length, 1);
    session.type('\t');
    const lines = session.screen.lines();
    assert.ok(
      lines.some((line) => /^start\s+stop$/.test(line)),
      `candidates listed: ${JSON.stringify(lines)}`,
    );
    assert.equal(session.visible().text, 'jail> vm st', 'the line is drawn again below the list');
    session.type('o\t\r');
    assert.deepEqual(session.lines(), ['vm stop ']);
  });

  it('completes options of a whole command after a dash', () => {
    const session = new Session().type('vm checkpoint web --m\t');
    assert.equal(session.editor.line, 'vm checkpoint web --message ');
  });

  it('Ctrl-C drops the line and starts a new prompt; Ctrl-D on an empty line ends input', () => {
    const session = new Session().type('vm start web\x03');
    assert.deepEqual(session.screen.lines().slice(0, 2), ['jail> vm start web^C', 'jail>']);
    assert.equal(session.editor.line, '');
    session.type('x\x04');
    assert.equal(session.events.length, 0, 'Ctrl-D deletes on a non-empty line');
    session.type('\x7f\x04');
    assert.deepEqual(session.events, [{ kind: 'eof' }]);
  });

  it('stops at the line end and leaves the keys after Enter for later', () => {
    const editor = new LineEditor({ prompt: '> ', columns: () => 80 });
    editor.prompt();
    const keys = new KeyDecoder().decode('one\rtwo\r');
    const first = editor.handle(keys);
    assert.deepEqual(first.event, { kind: 'line', text: 'one' });
    assert.equal(first.rest.length, 2);
    editor.prompt();
    const second = editor.handle(first.rest);
    assert.deepEqual(second.event, { kind: 'line', text: 'two' });
  });

  it('treats CR LF as one Enter and ignores unknown escape sequences and control characters', () => {
    const session = new Session().type('a\r\nb\x1b[15~\x1b[200~c\x00\x1f\r');
    assert.deepEqual(session.lines(), ['a', 'bc']);
  });

  it('puts an escape sequence split across reads back together', () => {
    const session = new Session().type('ab').type('\x1b').type('[').type('D').type('X');
    assert.equal(session.editor.line, 'aXb');
  });

  it('decodes UTF-8 split across reads and moves over whole characters', () => {
    const bytes = Buffer.from('vm start café', 'utf8');
    const session = new Session();
    session.type(bytes.subarray(0, bytes.length - 1)).type(bytes.subarray(bytes.length - 1));
    session.type('\x7f');
    assert.equal(session.editor.line, 'vm start caf');
  });

  it('scrolls a line wider than the terminal sideways and keeps the cursor on screen', () => {
    const session = new Session(20);
    session.type('vm checkpoint web --message abcdefghij');
    const { text, column } = session.visible();
    assert.ok(text.length <= 19, `row ${JSON.stringify(text)} fits in 19 columns`);
    assert.ok(text.endsWith('abcdefghij'));
    assert.equal(column, text.length);
    session.type('\x01');
    assert.deepEqual(session.visible(), { text: 'jail> vm checkpoint', column: PROMPT.length });
    assert.equal(session.screen.lines().length, 1, 'nothing wrapped onto a second row');
  });

  it('refuses input past the maximum length with a bell', () => {
    const editor = new LineEditor({ prompt: '> ', columns: () => 80, maxLength: 5 });
    editor.prompt();
    const step = editor.handle(new KeyDecoder().decode('abcdefg'));
    assert.equal(editor.line, 'abcde');
    assert.ok(step.output.includes('\x07'));
  });

  it('answers a question: a hidden line shows only its prompt and stays out of the history', () => {
    const screen = new TerminalScreen(80);
    const editor = new LineEditor({ prompt: 'key: ', columns: () => 80, hidden: true });
    const decoder = new KeyDecoder();
    screen.write(editor.prompt());
    const step = editor.handle(decoder.decode('MVSECRET-ab\x7fc\x1b[D'));
    screen.write(step.output);
    assert.deepEqual(
      { text: screen.currentLine(), column: screen.cursor.column },
      { text: 'key:', column: 5 },
    );
    const done = editor.handle(decoder.decode('\r'));
    assert.deepEqual(done.event, { kind: 'line', text: 'MVSECRET-ac' });
    screen.write(done.output);
    assert.ok(!screen.lines().join('\n').includes('MVSECRET'), 'the secret never reached the screen');
    assert.deepEqual(editor.historyEntries, []);
  });

  it('ends a question with a cancel event on Ctrl-C when asked to, keeping the keys after it', () => {
    const editor = new LineEditor({ prompt: 'share line 1: ', columns: () => 80, cancelOnInterrupt: true });
    editor.prompt();
    const step = editor.handle(new KeyDecoder().decode('12\x03vm list\r'));
    assert.deepEqual(step.event, { kind: 'cancel' });
    assert.ok(step.output.endsWith('share line 1: 12\x1b[K^C\r\n'), JSON.stringify(step.output));
    assert.equal(step.rest.length, 2, 'the text and the Enter typed after Ctrl-C are left');
  });

  it('property: the screen always shows the prompt and the line, with the cursor at its position', () => {
    fc.assert(
      fc.property(fc.array(KEY_ARBITRARY, { maxLength: 60 }), (keys) => {
        const session = new Session(200);
        for (const key of keys) session.type(key);
        const shown = session.visible();
        assert.equal(shown.text, `${PROMPT}${session.editor.line}`.replace(/\s+$/, ''));
        assert.equal(shown.column, PROMPT.length + session.editor.cursorPosition);
      }),
    );
  });

  it('property: on a narrow terminal the row is a window of the line with the cursor inside it', () => {
    fc.assert(
      fc.property(fc.array(KEY_ARBITRARY, { maxLength: 80 }), (keys) => {
        const session = new Session(16);
        for (const key of keys) session.type(key);
        const full = [...`${PROMPT}${session.editor.line}`];
        const cursor = PROMPT.length + session.editor.cursorPosition;
        const { column } = session.screen.cursor;
        const row = [...(session.screen.lines()[session.screen.cursor.row] ?? '')];
        assert.ok(column <= 14, `cursor column ${column} stays off the last column`);
        const scroll = cursor - column;
        assert.ok(scroll >= 0);
        assert.equal(
          row.join(''),
          full
            .slice(scroll, scroll + 15)
            .join('')
            .replace(/\s+$/, ''),
        );
      }),
    );
  });
});
