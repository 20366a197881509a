;; Elementwise products, sums, differences and quotients of a row-major float32 block with a row or
;; a column of values, in the memory it imports (tfjs-backend-wasm's heap), for the wasm broadcast
;; overrides (wasm-broadcast.ts: Multiply, Add, Sub, RealDiv). Compiled by `npm run build:wasm`
;; (scripts/build-wasm.ts) into broadcast-simd.wasm.ts.
;;
;; byRow(op, a, b, out, outer, rows, width): out[o][r][c] = a[o][r][c] ⊕ b[o][c] (b: outer rows of
;;   width values, one row for every block of rows; outer = 1 for a single row).
;; byColumn(op, a, b, out, rows, width): out[r][c] = a[r][c] ⊕ b[r] (b: rows values).
;; mulByRow(a, b, out, outer, rows, width), mulByColumn(a, b, out, rows, width): the same for a · b.
;; ⊕ by op: 0 a + b, 1 a − b, 2 b − a, 3 a / b, 4 b / a (the reversed ones for a kernel whose
;; repeated operand comes first). Byte offsets, no alignment needed. Four values at a time (the
;; operation chosen by a br_table inline per four values: the same jump every time; a call of
;; $vector per four values, tried first, was slower than tfjs's own loop), then one by one through
;; $scalar for the last width mod 4 of each row. Each value is one float32 operation, as tfjs's kernels make it.
(module
  (import "env" "memory" (memory 0))
  ;; x ⊕ f, four lanes (the loops below inline the same switch).
  (func $vector (param $op i32) (param $x v128) (param $f v128) (result v128)
    (block $rdiv
      (block $div
        (block $rsub
          (block $sub
            (block $add
              (br_table $add $sub $rsub $div $rdiv (local.get $op)))
            (return (f32x4.add (local.get $x) (local.get $f))))
          (return (f32x4.sub (local.get $x) (local.get $f))))
        (return (f32x4.sub (local.get $f) (local.get $x))))
      (return (f32x4.div (local.get $x) (local.get $f))))
    (f32x4.div (local.get $f) (local.get $x)))
  ;; x ⊕ f, one value.
  (func $scalar (param $op i32) (param $x f32) (param $f f32) (result f32)
    (f32x4.extract_lane 0 (call $vector (local.get $op) (f32x4.splat (local.get $x)) (f32x4.splat (local.get $f)))))
  (func (export "byRow") (param $op i32) (param $a i32) (param $b i32) (param $out i32) (param $outer i32) (param $rows i32) (param $width i32)
    (local $o i32) (local $r i32) (local $c i32) (local $f i32) (local $vectorEnd i32) (local $x v128) (local $y v128)
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
              (loop $vectorLoop
                (br_if $vectorDone (i32.ge_u (local.get $c) (local.get $vectorEnd)))
                (local.set $x (v128.load align=4 (local.get $a)))
                (local.set $y (v128.load align=4 (local.get $f)))
                ;; y = x ⊕ y, inline (a call per four values costs more than the operation)
                (block $done
                  (block $rdiv
                    (block $div
                      (block $rsub
                        (block $sub
                          (block $add
                            (br_table $add $sub $rsub $div $rdiv (local.get $op)))
                          (local.set $y (f32x4.add (local.get $x) (local.get $y)))
                          (br $done))
                        (local.set $y (f32x4.sub (local.get $x) (local.get $y)))
                        (br $done))
                      (local.set $y (f32x4.sub (local.get $y) (local.get $x)))
                      (br $done))
                    (local.set $y (f32x4.div (local.get $x) (local.get $y)))
                    (br $done))
                  (local.set $y (f32x4.div (local.get $y) (local.get $x))))
                (v128.store align=4 (local.get $out) (local.get $y))
                (local.set $a (i32.add (local.get $a) (i32.const 16)))
                (local.set $f (i32.add (local.get $f) (i32.const 16)))
                (local.set $out (i32.add (local.get $out) (i32.const 16)))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $vectorLoop)))
            (block $tailDone
              (loop $tail
                (br_if $tailDone (i32.ge_u (local.get $c) (local.get $width)))
                (f32.store (local.get $out) (call $scalar (local.get $op) (f32.load (local.get $a)) (f32.load (local.get $f))))
                (local.set $a (i32.add (local.get $a) (i32.const 4)))
                (local.set $f (i32.add (local.get $f) (i32.const 4)))
                (local.set $out (i32.add (local.get $out) (i32.const 4)))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $tail)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rowLoop)))
        ;; the next block's row of values
        (local.set $b (i32.add (local.get $b) (i32.shl (local.get $width) (i32.const 2))))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $outerLoop))))
  (func (export "byColumn") (param $op i32) (param $a i32) (param $b i32) (param $out i32) (param $rows i32) (param $width i32)
    (local $r i32) (local $c i32) (local $vectorEnd i32) (local $value f32) (local $values v128) (local $x v128) (local $y v128)
    (local.set $vectorEnd (i32.and (local.get $width) (i32.const -4)))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $value (f32.load (local.get $b)))
        (local.set $values (f32x4.splat (local.get $value)))
        (local.set $c (i32.const 0))
        (block $vectorDone
          (loop $vectorLoop
            (br_if $vectorDone (i32.ge_u (local.get $c) (local.get $vectorEnd)))
            (local.set $x (v128.load align=4 (local.get $a)))
            (local.set $y (local.get $values))
            ;; y = x ⊕ y, inline (a call per four values costs more than the operation)
            (block $done
              (block $rdiv
                (block $div
                  (block $rsub
                    (block $sub
                      (block $add
                        (br_table $add $sub $rsub $div $rdiv (local.get $op)))
                      (local.set $y (f32x4.add (local.get $x) (local.get $y)))
                      (br $done))
                    (local.set $y (f32x4.sub (local.get $x) (local.get $y)))
                    (br $done))
                  (local.set $y (f32x4.sub (local.get $y) (local.get $x)))
                  (br $done))
                (local.set $y (f32x4.div (local.get $x) (local.get $y)))
                (br $done))
              (local.set $y (f32x4.div (local.get $y) (local.get $x))))
            (v128.store align=4 (local.get $out) (local.get $y))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (local.set $out (i32.add (local.get $out) (i32.const 16)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $vectorLoop)))
        (block $tailDone
          (loop $tail
            (br_if $tailDone (i32.ge_u (local.get $c) (local.get $width)))
            (f32.store (local.get $out) (call $scalar (local.get $op) (f32.load (local.get $a)) (local.get $value)))
            (local.set $a (i32.add (local.get $a) (i32.const 4)))
            (local.set $out (i32.add (local.get $out) (i32.const 4)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))
  ;; Multiply's own loops: the same as byRow and byColumn with op 0, without the switch (the
  ;; most frequent of the four, and 1.3x faster so).
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
