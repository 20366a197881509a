;; Products of a row-major float32 block with a row or a column of factors, in the memory it imports
;; (tfjs-backend-wasm's heap), for the wasm Multiply override (wasm-multiply.ts). Compiled by
;; `npm run build:wasm` (scripts/build-wasm.ts) into mul-simd.wasm.ts.
;;
;; mulByRow(a, b, out, outer, rows, width): out[o][r][c] = a[o][r][c] · b[o][c] (b: outer rows of
;;   width values: one row of factors for every block of rows; outer = 1 for a single row).
;; mulByColumn(a, b, out, rows, width): out[r][c] = a[r][c] · b[r] (b: rows values).
;; Byte offsets, no alignment needed; four products at a time, then one by one for the last
;; width mod 4 of each row. Each product is one float32 multiplication, as tfjs's kernel makes it.
(module
  (import "env" "memory" (memory 0))
  (func (export "mulByRow") (param $a i32) (param $b i32) (param $out i32) (param $outer i32) (param $rows i32) (param $width i32)
    (local $o i32) (local $r i32) (local $c i32) (local $f i32) (local $vectorEnd i32)
    (local.set $vectorEnd (i32.and (local.get $width) (i32.const -4)))
    (local.set $o (i32.const 0))
    (block $outerDone
      (loop $outerLoop
        (br_if $outerDone (i32.ge_u (local.get $o) (local.get $outer)))
        (local.set $r (i32.const 0))
        (block $rowsDone
          (loop $rowLoop
            (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $c (i32.const 0))
            (local.set $f (local.get $b))
            (block $vectorDone
              (loop $vector
                (br_if $vectorDone (i32.ge_u (local.get $c) (local.get $vectorEnd)))
                (v128.store align=4 (local.get $out) (f32x4.mul (v128.load align=4 (local.get $a)) (v128.load align=4 (local.get $f))))
                (local.set $a (i32.add (local.get $a) (i32.const 16)))
                (local.set $f (i32.add (local.get $f) (i32.const 16)))
                (local.set $out (i32.add (local.get $out) (i32.const 16)))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $vector)))
            (block $tailDone
              (loop $tail
                (br_if $tailDone (i32.ge_u (local.get $c) (local.get $width)))
                (f32.store (local.get $out) (f32.mul (f32.load (local.get $a)) (f32.load (local.get $f))))
                (local.set $a (i32.add (local.get $a) (i32.const 4)))
                (local.set $f (i32.add (local.get $f) (i32.const 4)))
                (local.set $out (i32.add (local.get $out) (i32.const 4)))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $tail)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rowLoop)))
        ;; the next block's row of factors
        (local.set $b (i32.add (local.get $b) (i32.shl (local.get $width) (i32.const 2))))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $outerLoop))))
  (func (export "mulByColumn") (param $a i32) (param $b i32) (param $out i32) (param $rows i32) (param $width i32)
    (local $r i32) (local $c i32) (local $vectorEnd i32) (local $factor f32) (local $factors v128)
    (local.set $vectorEnd (i32.and (local.get $width) (i32.const -4)))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $factor (f32.load (local.get $b)))
        (local.set $factors (f32x4.splat (local.get $factor)))
        (local.set $c (i32.const 0))
        (block $vectorDone
          (loop $vector
            (br_if $vectorDone (i32.ge_u (local.get $c) (local.get $vectorEnd)))
            (v128.store align=4 (local.get $out) (f32x4.mul (v128.load align=4 (local.get $a)) (local.get $factors)))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (local.set $out (i32.add (local.get $out) (i32.const 16)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $vector)))
        (block $tailDone
          (loop $tail
            (br_if $tailDone (i32.ge_u (local.get $c) (local.get $width)))
            (f32.store (local.get $out) (f32.mul (f32.load (local.get $a)) (local.get $factor)))
            (local.set $a (i32.add (local.get $a) (i32.const 4)))
            (local.set $out (i32.add (local.get $out) (i32.const 4)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))
)
