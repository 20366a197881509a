import { tf } from "../engine/index.ts";
import { ENTITY_NAMES, type EntityName } from "../data/batch.ts";
import type { PreparedSchema, PreparedSequence } from "../data/schema.ts";
import { DinAttention } from "../layers/din-attention.ts";
import { EmbeddingGroup } from "../layers/embedding.ts";
import { Module, type ParamInit } from "../layers/params.ts";
import { meanOfMaskedSums } from "../layers/pooling.ts";
import type { BatchTensors } from "./inputs.ts";
import { rowCount, sliceRows, type RowSet } from "./rows.ts";

export interface FeatureFrontEndOptions {
  /** E: width of every embedding. */
  dim: number;
  /**
   * Entities whose specific columns get embedding tables (default both). A single-entity model asks
   * for ["target"] only; the item-id columns used by the sequences get tables in any case.
   */
  specificEntities?: readonly EntityName[];
  /**
   * Sequence pooling: DIN attention keyed on the shared features (default; the masked mean without
   * shared features, as there is nothing to key on) or the masked mean of the element values.
   */
  pooling?: "attention" | "mean";
  /** Hidden sizes of the DIN activation unit (sizes.attention); default [36]. */
  attentionHidden?: readonly number[];
}

/** A behaviour sequence's elements as embeddings. */
export interface SequenceElements {
  /** Shared-feature embeddings of each element, in the order of `sharedColumns`: [n, L, n_shared·E]; absent without shared features. */
  keys: tf.Tensor3D | undefined;
  /** What pooling sums: the keys followed by the element's other (item-id) embeddings [n, L, valueSize]. */
  values: tf.Tensor3D;
  /** 1 real element, 0 padding [n, L]. */
  mask: tf.Tensor2D;
}

interface SequenceLayout {
  name: string;
  /** Element names (keys of SequenceTensors.ids) → embedding column, keys first, in pooling order. */
  keyElements: Array<[string, string]>;
  valueElements: Array<[string, string]>;
}

/**
 * The feature-embedding front end shared by MKT's MEM and TEM (each its own instance, hence its own
 * embeddings) and the baselines: one embedding table per feature column, and the helpers that turn
 * a batch into v_u, v_shared, v_spec^e and the pooled sequences v_seq.
 *
 * Sequences. An element is embedded with the same tables as the candidate: its shared features
 * (the attention key, matching the query v_shared field by field) and its item id, looked up in the
 * item-id table of the sequence's entity (`elements` in the schema). The pooled value is
 * concat(shared-feature embeddings, item-id embedding): the key alone would lose which item was
 * clicked. Each sequence has its own DIN activation unit, used for the rows of both entities
 * (SPEC: "encoder shared by both entities"); the two sequences hold different item kinds, so their
 * relevance to a candidate is learned separately. v_seq = concat(pooled seq_source, pooled seq_target)
 * in schema order.
 *
 * Without shared features (a dataset spec with `shared: []`) v_shared is absent (zero-width: every
 * concatenation leaves it out), elements are their item ids only, and attention pooling, which has
 * no key in common with the candidate, becomes the masked mean (docs/models.md).
 */
export class FeatureFrontEnd extends Module {
  readonly dim: number;
  readonly userColumns: readonly string[];
  readonly sharedColumns: readonly string[];
  /** Specific columns per entity (schema order); only entities in `specificEntities` are usable. */
  readonly specificColumns: Readonly<Record<EntityName, readonly string[]>>;
  /** n_user·E. */
  readonly userSize: number;
  /** n_shared·E (0 without shared features). */
  readonly sharedSize: number;
  /** Width of v_seq (every sequence pooled, concatenated). */
  readonly seqSize: number;
  /** The behaviour sequences (schema order, the order of v_seq). */
  readonly sequenceNames: readonly string[];
  private readonly embeddings: EmbeddingGroup;
  private readonly sequences: SequenceLayout[];
  private readonly encoders: Map<string, DinAttention> | undefined;
  private readonly specificEntities: ReadonlySet<EntityName>;

  constructor(name: string, init: ParamInit, schema: PreparedSchema, options: FeatureFrontEndOptions) {
    super(name);
    this.dim = options.dim;
    const columnsOf = (group: string): string[] => schema.features.filter((f) => f.group === group).map((f) => f.column);
    this.userColumns = columnsOf("user");
    this.sharedColumns = columnsOf("shared");
    // Never empty in prepared data: the user id is always a user feature.
    if (this.userColumns.length === 0) throw new Error(`${name}: the schema needs at least one user feature`);
    this.specificColumns = { source: schema.entities.source.specificColumns, target: schema.entities.target.specificColumns };
    this.specificEntities = new Set(options.specificEntities ?? ENTITY_NAMES);
    this.sequences = schema.sequences.map((seq) => this.layout(seq));
    this.sequenceNames = this.sequences.map((seq) => seq.name);

    const wanted = new Set([...this.userColumns, ...this.sharedColumns]);
    for (const entity of this.specificEntities) for (const column of this.specificColumns[entity]) wanted.add(column);
    for (const seq of this.sequences) for (const [, column] of seq.valueElements) wanted.add(column);
    const vocab: Record<string, number> = {};
    for (const feature of schema.features) if (wanted.has(feature.column)) vocab[feature.column] = feature.vocabSize;
    for (const column of wanted) if (vocab[column] === undefined) throw new Error(`${name}: column '${column}' is not a schema feature`);
    this.embeddings = this.child(new EmbeddingGroup(this.scoped("emb"), init, { dim: this.dim, vocab }));

    this.userSize = this.userColumns.length * this.dim;
    this.sharedSize = this.sharedColumns.length * this.dim;
    this.seqSize = this.sequences.reduce((sum, seq) => sum + this.sharedSize + seq.valueElements.length * this.dim, 0);
    if ((options.pooling ?? "attention") === "attention" && this.sharedSize > 0) {
      this.encoders = new Map(
        this.sequences.map((seq) => [
          seq.name,
          this.child(new DinAttention(this.scoped(`${seq.name}_attention`), init, { dim: this.sharedSize, hidden: options.attentionHidden })),
        ]),
      );
    }
  }

  /** Keys are the shared features in `sharedColumns` order, so that they line up with the query v_shared. */
  private layout(seq: PreparedSequence): SequenceLayout {
    const byColumn = new Map(Object.entries(seq.elements).map(([element, column]) => [column, element]));
    const keyElements = this.sharedColumns.map((column): [string, string] => {
      const element = byColumn.get(column);
      if (element === undefined) throw new Error(`${this.name}: sequence ${seq.name} lacks the shared feature '${column}'`);
      return [element, column];
    });
    const valueElements = Object.entries(seq.elements).filter(([, column]) => !this.sharedColumns.includes(column));
    return { name: seq.name, keyElements, valueElements };
  }

  specificCount(entity: EntityName): number {
    return this.specificColumns[entity].length;
  }

  /**
   * The embedding columns of a sequence's elements in the order of `SequenceElements.values`: the
   * shared features (`sharedColumns` order, the keys), then the others (the item id).
   */
  elementColumns(name: string): readonly string[] {
    const layout = this.sequences.find((s) => s.name === name);
    if (layout === undefined) throw new Error(`${this.name}: no sequence '${name}' in the schema`);
    return [...layout.keyElements, ...layout.valueElements].map(([, column]) => column);
  }

  /** v_u: user-field embeddings concatenated [n, n_user·E]. */
  user(batch: BatchTensors, rows: RowSet = "all"): tf.Tensor2D {
    return this.columns(batch, this.userColumns, rows);
  }

  /** v_shared: the candidate's shared-feature embeddings concatenated [n, n_shared·E]; undefined without shared features. */
  shared(batch: BatchTensors, rows: RowSet = "all"): tf.Tensor2D | undefined {
    return this.sharedColumns.length === 0 ? undefined : this.columns(batch, this.sharedColumns, rows);
  }

  /** v_spec^e: entity e's specific-feature embeddings [n, n_spec^e, E], read on `rows` (default e's own). */
  specific(batch: BatchTensors, entity: EntityName, rows: RowSet = entity): tf.Tensor3D {
    if (!this.specificEntities.has(entity)) throw new Error(`${this.name}: no embeddings for ${entity}-specific features`);
    return this.fields(batch, this.specificColumns[entity], rows) as tf.Tensor3D;
  }

  /** One sequence's element embeddings on `rows` (DIN's attention pools these). */
  sequence(batch: BatchTensors, name: string, rows: RowSet = "all"): SequenceElements {
    const { layout, mask, ids } = this.sequenceParts(batch, name, rows);
    const stacked = this.embeddings.lookupFields(Object.fromEntries(ids), ids.map(([column]) => column)); // [n, L, F, E]
    const values = stacked.reshape([rowCount(batch, rows), mask.shape[1], ids.length * this.dim]) as tf.Tensor3D;
    // Keys are the values' leading columns: one lookup of every element field, then this slice,
    // moves less data than looking keys and the rest up apart and concatenating them.
    const keyWidth = layout.keyElements.length * this.dim;
    const keys = keyWidth === 0 ? undefined : keyWidth === values.shape[2] ? values : (tf.slice(values, [0, 0, 0], [-1, -1, keyWidth]) as tf.Tensor3D);
    return { keys, values, mask };
  }

  /** A sequence's layout, its mask on `rows` and each element's ids on `rows`, in pooling order (keys first). */
  private sequenceParts(batch: BatchTensors, name: string, rows: RowSet): { layout: SequenceLayout; mask: tf.Tensor2D; ids: Array<[string, tf.Tensor]> } {
    const layout = this.sequences.find((s) => s.name === name);
    const tensors = batch.sequences[name];
    if (layout === undefined || tensors === undefined) throw new Error(`${this.name}: no sequence '${name}' in the schema and batch`);
    const ids = [...layout.keyElements, ...layout.valueElements].map(([element, column]): [string, tf.Tensor] => {
      const elementIds = tensors.ids[element];
      if (elementIds === undefined) throw new Error(`${this.name}: batch sequence ${name} lacks element '${element}'`);
      return [column, sliceRows(elementIds, batch, rows)];
    });
    return { layout, mask: sliceRows(tensors.mask, batch, rows), ids };
  }

  /**
   * One sequence's masked mean: each element's masked sum of embedding rows on its own, then
   * concatenated (the same values as pooling `sequence`'s values, without stacking the rows first).
   */
  private meanPooledSequence(batch: BatchTensors, name: string, rows: RowSet): tf.Tensor2D {
    const { mask, ids } = this.sequenceParts(batch, name, rows);
    return meanOfMaskedSums(
      ids.map(([column, elementIds]) => this.embeddings.table(column).pooledSums(elementIds, mask)),
      mask,
    );
  }

  /** v_seq [n, seqSize]: every sequence pooled (attention with `query` = v_shared of the same rows, or mean). */
  pooledSequences(batch: BatchTensors, query: tf.Tensor2D | undefined, rows: RowSet = "all"): tf.Tensor2D {
    const pooled = this.sequences.map(({ name }) => {
      const encoder = this.encoders?.get(name);
      if (encoder === undefined || query === undefined) return this.meanPooledSequence(batch, name, rows);
      const { keys, values, mask } = this.sequence(batch, name, rows);
      return encoder.apply(query, keys!, mask, values).output;
    });
    return tf.concat(pooled, 1) as tf.Tensor2D;
  }

  private fields(batch: BatchTensors, columns: readonly string[], rows: RowSet): tf.Tensor {
    const ids: Record<string, tf.Tensor> = {};
    for (const column of columns) {
      const columnIds = batch.features[column];
      if (columnIds === undefined) throw new Error(`${this.name}: batch lacks feature column '${column}'`);
      ids[column] = sliceRows(columnIds, batch, rows);
    }
    return this.embeddings.lookupFields(ids, columns); // [n, F, E]
  }

  /** Embeddings of embedded columns of `rows`, concatenated in the given order [n, columns·E]. */
  columns(batch: BatchTensors, columns: readonly string[], rows: RowSet = "all"): tf.Tensor2D {
    return this.fields(batch, columns, rows).reshape([rowCount(batch, rows), columns.length * this.dim]) as tf.Tensor2D;
  }
}

/** Feature parts of the same rows side by side [n, Σ widths]; absent parts (v_shared without shared features) are left out. */
export function concatColumns(parts: ReadonlyArray<tf.Tensor2D | undefined>): tf.Tensor2D {
  return tf.concat(parts.filter((part): part is tf.Tensor2D => part !== undefined), 1) as tf.Tensor2D;
}
