;; Products of every pair of fields, and their gradient, over the memory it imports (tfjs-backend-
;; wasm's heap), with f32x4 SIMD: FiBiNet's bilinear interaction after its projection, without the
;; transposes, 0/1 selection products and elementwise product its tfjs ops take
;; (field-pairs-kernel.ts). Compiled by `npm run build:wasm` (scripts/build-wasm.ts) into
;; field-pairs-simd.wasm.ts; the kernel tests check that the committed bytes are what this file
;; compiles to. Rows are [fields][dim] floats per batch row; dim is a multiple of 4.
;;
;; pairs(left, right, out, batch, fields, dim): out[b][p] = left[b][i] ⊙ right[b][j] for the pairs
;;   i < j in order p = (0,1), (0,2), …, (1,2), …: one float32 product per value, as the Multiply
;;   kernel makes it.
;;
;; grad(left, right, dy, dleft, dright, batch, fields, dim): dleft[b][i] = Σ_{j > i} dy[b][p(i,j)] ⊙
;;   right[b][j] and dright[b][j] = Σ_{i < j} dy[b][p(i,j)] ⊙ left[b][i], each from 0 with the
;;   products rounded to float32 and added in order of p (no fused multiply-add): what the gradient of
;;   the elementwise product followed by the transposed 0/1 selection product sums, term by term.
;;   dleft and dright must start as zeros.
(module
  (import "env" "memory" (memory 0))
  (func (export "pairs")
    (param $left i32) (param $right i32) (param $out i32) (param $batch i32) (param $fields i32) (param $dim i32)
    (local $rowBytes i32) (local $base i32) (local $end i32) (local $rowEnd i32) (local $li i32) (local $rj i32) (local $c i32)
    (local.set $rowBytes (i32.shl (local.get $dim) (i32.const 2)))
    (local.set $base (i32.const 0))
    (local.set $end (i32.mul (local.get $batch) (i32.mul (local.get $fields) (local.get $rowBytes))))
    (block $batchDone
      (loop $rows
        (br_if $batchDone (i32.ge_u (local.get $base) (local.get $end)))
        (local.set $rowEnd (i32.add (local.get $base) (i32.mul (local.get $fields) (local.get $rowBytes))))
        ;; li: field i of this batch row; rj: field j > i.
        (local.set $li (local.get $base))
        (block $iDone
          (loop $firsts
            (local.set $rj (i32.add (local.get $li) (local.get $rowBytes)))
            (br_if $iDone (i32.ge_u (local.get $rj) (local.get $rowEnd)))
            (block $jDone
              (loop $seconds
                (br_if $jDone (i32.ge_u (local.get $rj) (local.get $rowEnd)))
                (local.set $c (i32.const 0))
                (block $colsDone
                  (loop $cols
                    (br_if $colsDone (i32.ge_u (local.get $c) (local.get $rowBytes)))
                    (v128.store align=4 (local.get $out)
                      (f32x4.mul
                        (v128.load align=4 (i32.add (local.get $left) (i32.add (local.get $li) (local.get $c))))
                        (v128.load align=4 (i32.add (local.get $right) (i32.add (local.get $rj) (local.get $c))))))
                    (local.set $out (i32.add (local.get $out) (i32.const 16)))
                    (local.set $c (i32.add (local.get $c) (i32.const 16)))
                    (br $cols)))
                (local.set $rj (i32.add (local.get $rj) (local.get $rowBytes)))
                (br $seconds)))
            (local.set $li (i32.add (local.get $li) (local.get $rowBytes)))
            (br $firsts)))
        (local.set $base (local.get $rowEnd))
        (br $rows))))
  (func (export "grad")
    (param $left i32) (param $right i32) (param $dy i32) (param $dleft i32) (param $dright i32) (param $batch i32) (param $fields i32) (param $dim i32)
    (local $rowBytes i32) (local $base i32) (local $end i32) (local $rowEnd i32) (local $li i32) (local $rj i32) (local $c i32) (local $d v128)
    (local.set $rowBytes (i32.shl (local.get $dim) (i32.const 2)))
    (local.set $base (i32.const 0))
    (local.set $end (i32.mul (local.get $batch) (i32.mul (local.get $fields) (local.get $rowBytes))))
    (block $batchDone
      (loop $rows
        (br_if $batchDone (i32.ge_u (local.get $base) (local.get $end)))
        (local.set $rowEnd (i32.add (local.get $base) (i32.mul (local.get $fields) (local.get $rowBytes))))
        (local.set $li (local.get $base))
        (block $iDone
          (loop $firsts
            (local.set $rj (i32.add (local.get $li) (local.get $rowBytes)))
            (br_if $iDone (i32.ge_u (local.get $rj) (local.get $rowEnd)))
            (block $jDone
              (loop $seconds
                (br_if $jDone (i32.ge_u (local.get $rj) (local.get $rowEnd)))
                (local.set $c (i32.const 0))
                (block $colsDone
                  (loop $cols
                    (br_if $colsDone (i32.ge_u (local.get $c) (local.get $rowBytes)))
                    (local.set $d (v128.load align=4 (local.get $dy)))
                    (v128.store align=4 (i32.add (local.get $dleft) (i32.add (local.get $li) (local.get $c)))
                      (f32x4.add (v128.load align=4 (i32.add (local.get $dleft) (i32.add (local.get $li) (local.get $c))))
                        (f32x4.mul (local.get $d) (v128.load align=4 (i32.add (local.get $right) (i32.add (local.get $rj) (local.get $c)))))))
                    (v128.store align=4 (i32.add (local.get $dright) (i32.add (local.get $rj) (local.get $c)))
                      (f32x4.add (v128.load align=4 (i32.add (local.get $dright) (i32.add (local.get $rj) (local.get $c))))
                        (f32x4.mul (local.get $d) (v128.load align=4 (i32.add (local.get $left) (i32.add (local.get $li) (local.get $c)))))))
                    (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
                    (local.set $c (i32.add (local.get $c) (i32.const 16)))
                    (br $cols)))
                (local.set $rj (i32.add (local.get $rj) (local.get $rowBytes)))
                (br $seconds)))
            (local.set $li (i32.add (local.get $li) (local.get $rowBytes)))
            (br $firsts)))
        (local.set $base (local.get $rowEnd))
        (br $rows)))))
