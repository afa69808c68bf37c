/**
 * The launcher's terminal output: one prefixed, readable line per thing that happened, colored on a terminal
 * (and never when NO_COLOR is set or the output is a file or a pipe).
 */

const CODES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  gray: [90, 39],
} as const;

export type Style = keyof typeof CODES;

export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export class Output {
  readonly color: boolean;
  /**
   * While the stack starts and while the demo plays, the children's routine lines (requests, lock events) are held
   * back so the progress reads cleanly; warnings and errors always show.
   */
  quiet = false;

  constructor(
    private readonly stream: OutputStream,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.color = stream.isTTY === true && !env.NO_COLOR && env.TERM !== "dumb";
  }

  style(text: string, ...styles: Style[]): string {
    if (!this.color) return text;
    return styles.reduce((t, s) => `\u001b[${CODES[s][0]}m${t}\u001b[${CODES[s][1]}m`, text);
  }

  /** A line from one part of the stack, e.g. `cloud  │ listening on …`. */
  line(source: string, text: string, color: Style = "gray"): void {
    this.stream.write(`${this.style(source.padEnd(6), color)} │ ${text}\n`);
  }

  /** Text as it is (the summary, the demo progress). */
  raw(text: string): void {
    this.stream.write(text.endsWith("\n") ? text : `${text}\n`);
  }
}
