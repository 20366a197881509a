;; Masked sums of embedding rows and their gradient, over the memory it imports (tfjs-backend-wasm's
;; heap), with f32x4 SIMD: the mean pooling of a sequence's element embeddings without the [B, L, E]
;; tensor of looked-up rows (pooled-rows-kernel.ts). Compiled by `npm run build:wasm`
;; (scripts/build-wasm.ts) into pooled-rows-simd.wasm.ts; the kernel tests check that the committed
;; bytes are what this file compiles to.
;;
;; sums(table, ids, mask, out, batch, length, dim): for b < batch, out[b][c] = Σ_t mask[b][t] ·
;;   table[ids[b][t]][c], t in order from 0, products and sums float32 (no fused multiply-add): the
;;   very arithmetic of bmm-simd.wat's [1, L]·[L, dim] product over the looked-up rows. dim is a
;;   multiple of 4; ids are in range (the caller checked them).
;;
;; grad(ids, mask, dsums, dtable, batch, length, dim): for b, t in order, dtable[ids[b][t]] +=
;;   0 + mask[b][t] · dsums[b]: the gradient of the product as bmm-simd.wat computes it (a sum of one
;;   product, from 0), scattered into the rows in the order a ScatterNd of those rows adds them.
;;   dtable must start as zeros.
(module
  (import "env" "memory" (memory 0))
  (func (export "sums")
    (param $table i32) (param $ids i32) (param $mask i32) (param $out i32) (param $batch i32) (param $length i32) (param $dim i32)
    (local $b i32) (local $c i32) (local $t i32) (local $at i32) (local $rowBytes i32) (local $acc v128)
    (local.set $rowBytes (i32.shl (local.get $dim) (i32.const 2)))
    (local.set $b (i32.const 0))
    (block $batchDone
      (loop $rows
        (br_if $batchDone (i32.ge_u (local.get $b) (local.get $batch)))
        (local.set $c (i32.const 0))
        (block $colsDone
          (loop $cols
            (br_if $colsDone (i32.ge_u (local.get $c) (local.get $dim)))
            (local.set $acc (v128.const f32x4 0 0 0 0))
            ;; Position (b, t) of ids and mask, in bytes.
            (local.set $at (i32.shl (i32.mul (local.get $b) (local.get $length)) (i32.const 2)))
            (local.set $t (i32.const 0))
            (block $tDone
              (loop $positions
                (br_if $tDone (i32.ge_u (local.get $t) (local.get $length)))
                (local.set $acc
                  (f32x4.add (local.get $acc)
                    (f32x4.mul
                      (f32x4.splat (f32.load (i32.add (local.get $mask) (local.get $at))))
                      (v128.load align=4
                        (i32.add (local.get $table)
                          (i32.add (i32.mul (i32.load (i32.add (local.get $ids) (local.get $at))) (local.get $rowBytes))
                            (i32.shl (local.get $c) (i32.const 2))))))))
                (local.set $at (i32.add (local.get $at) (i32.const 4)))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $positions)))
            (v128.store align=4
              (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $b) (local.get $dim)) (local.get $c)) (i32.const 2)))
              (local.get $acc))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $cols)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $rows))))
  (func (export "grad")
    (param $ids i32) (param $mask i32) (param $dsums i32) (param $dtable i32) (param $batch i32) (param $length i32) (param $dim i32)
    (local $b i32) (local $c i32) (local $t i32) (local $at i32) (local $rowBytes i32) (local $row i32) (local $m v128) (local $d i32)
    (local.set $rowBytes (i32.shl (local.get $dim) (i32.const 2)))
    (local.set $b (i32.const 0))
    (block $batchDone
      (loop $rows
        (br_if $batchDone (i32.ge_u (local.get $b) (local.get $batch)))
        (local.set $d (i32.add (local.get $dsums) (i32.mul (local.get $b) (local.get $rowBytes))))
        (local.set $at (i32.shl (i32.mul (local.get $b) (local.get $length)) (i32.const 2)))
        (local.set $t (i32.const 0))
        (block $tDone
          (loop $positions
            (br_if $tDone (i32.ge_u (local.get $t) (local.get $length)))
            (local.set $m (f32x4.splat (f32.load (i32.add (local.get $mask) (local.get $at)))))
            (local.set $row (i32.add (local.get $dtable) (i32.mul (i32.load (i32.add (local.get $ids) (local.get $at))) (local.get $rowBytes))))
            (local.set $c (i32.const 0))
            (block $colsDone
              (loop $cols
                (br_if $colsDone (i32.ge_u (local.get $c) (local.get $rowBytes)))
                (v128.store align=4 (i32.add (local.get $row) (local.get $c))
                  (f32x4.add (v128.load align=4 (i32.add (local.get $row) (local.get $c)))
                    (f32x4.add (v128.const f32x4 0 0 0 0)
                      (f32x4.mul (local.get $m) (v128.load align=4 (i32.add (local.get $d) (local.get $c)))))))
                (local.set $c (i32.add (local.get $c) (i32.const 16)))
                (br $cols)))
            (local.set $at (i32.add (local.get $at) (i32.const 4)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $positions)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $rows)))))
