/**
 * A block of rows in columnar form: scalar int columns and fixed-width int array columns
 * (sequences, `width` ints per row). Used for chunks read from DuckDB, the shuffle buffer and
 * batches alike, so rows move between them with plain typed-array copies.
 */
export class ColumnBlock {
  rows = 0;
  readonly scalars: Int32Array[];
  readonly arrays: Int32Array[];

  constructor(
    readonly capacity: number,
    scalarCount: number,
    arrayCount: number,
    readonly width: number,
  ) {
    this.scalars = Array.from({ length: scalarCount }, () => new Int32Array(capacity));
    this.arrays = Array.from({ length: arrayCount }, () => new Int32Array(capacity * width));
  }

  /** Copies `count` consecutive rows starting at `from` of `source` to row `to` of this block. */
  copyRange(source: ColumnBlock, from: number, to: number, count: number): void {
    for (let c = 0; c < this.scalars.length; c++) this.scalars[c]!.set(source.scalars[c]!.subarray(from, from + count), to);
    const w = this.width;
    for (let a = 0; a < this.arrays.length; a++) this.arrays[a]!.set(source.arrays[a]!.subarray(from * w, (from + count) * w), to * w);
  }
}
