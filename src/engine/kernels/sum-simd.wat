;; Column sums and means of row-major float32 blocks in the memory it imports (tfjs-backend-wasm's heap): the
;; wasm Sum and Mean overrides' reductions over a block of consecutive non-innermost axes (a bias gradient,
;; [batch, n] → [n]). Compiled by `npm run build:wasm` (scripts/build-wasm.ts) into sum-simd.wasm.ts.
;;
;; sumRows(x, out, acc, outer, rows, width): x holds `outer` blocks of rows × width values, out
;;   `outer` rows of width values, acc is scratch for width float64 values (byte offsets; no
;;   alignment needed); out[o][c] = Σ_r x[o][r][c].
;; x is read once, in order: each row is added into the running row of float64 sums at acc, four
;; columns at a time (two f64x2 adds), then one by one for the last width mod 4; the sums are
;; rounded to float32 once, at the end of each block. Every column is thus summed in float64 from
;; +0, in row order: the same additions as the JS loop it replaces (wasm-sum.ts's sumRowsJs), so
;; the same bits. (Summing 16 columns at a time down the rows in registers, tried first, was 2×
;; slower on [1024, 1024] and [1024, 512]: rows 4 KB apart defeat the caches and the prefetcher.)
(module
  (import "env" "memory" (memory 0))
  (func (export "sumRows") (param $x i32) (param $out i32) (param $acc i32) (param $outer i32) (param $rows i32) (param $width i32)
    (local $o i32) (local $r i32) (local $c i32) (local $p i32) (local $a i32) (local $vectorEnd i32) (local $v v128)
    (local.set $vectorEnd (i32.and (local.get $width) (i32.const -4)))
    (local.set $p (local.get $x))
    (local.set $o (i32.const 0))
    (block $outerDone
      (loop $outerLoop
        (br_if $outerDone (i32.ge_u (local.get $o) (local.get $outer)))
        ;; acc = 0
        (local.set $c (i32.const 0))
        (block $zeroDone
          (loop $zero
            (br_if $zeroDone (i32.ge_u (local.get $c) (local.get $width)))
            (f64.store (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))) (f64.const 0))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $zero)))
        (local.set $r (i32.const 0))
        (block $rowsDone
          (loop $rowLoop
            (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $c (i32.const 0))
            (local.set $a (local.get $acc))
            (block $vectorDone
              (loop $vector
                (br_if $vectorDone (i32.ge_u (local.get $c) (local.get $vectorEnd)))
                (local.set $v (v128.load align=4 (local.get $p)))
                (v128.store align=8 (local.get $a)
                  (f64x2.add (v128.load align=8 (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
                (v128.store offset=16 align=8 (local.get $a)
                  (f64x2.add (v128.load offset=16 align=8 (local.get $a)) (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
                (local.set $p (i32.add (local.get $p) (i32.const 16)))
                (local.set $a (i32.add (local.get $a) (i32.const 32)))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $vector)))
            (block $tailDone
              (loop $tail
                (br_if $tailDone (i32.ge_u (local.get $c) (local.get $width)))
                (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32.load (local.get $p)))))
                (local.set $p (i32.add (local.get $p) (i32.const 4)))
                (local.set $a (i32.add (local.get $a) (i32.const 8)))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $tail)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rowLoop)))
        ;; out row o = acc, rounded to float32
        (local.set $c (i32.const 0))
        (block $roundDone
          (loop $round
            (br_if $roundDone (i32.ge_u (local.get $c) (local.get $width)))
            (f32.store
              (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $o) (local.get $width)) (local.get $c)) (i32.const 2)))
              (f32.demote_f64 (f64.load (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $round)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $outerLoop))))

  ;; meanRows(x, out, outer, rows, width): out[o][c] = (Σ_r x[o][r][c]) / rows, the wasm Mean
  ;;   override's reduction. Unlike sumRows, each column is summed in float32 from +0 in row order
  ;;   (four columns at a time, one per lane, straight into out) and then divided by rows: the
  ;;   additions and the division tfjs-backend-wasm's Mean makes after its transpose, so the same bits.
  (func (export "meanRows") (param $x i32) (param $out i32) (param $outer i32) (param $rows i32) (param $width i32)
    (local $o i32) (local $r i32) (local $c i32) (local $p i32) (local $q i32) (local $base i32) (local $vectorEnd i32) (local $n f32)
    (local.set $vectorEnd (i32.and (local.get $width) (i32.const -4)))
    (local.set $n (f32.convert_i32_u (local.get $rows)))
    (local.set $p (local.get $x))
    (local.set $o (i32.const 0))
    (block $outerDone
      (loop $outerLoop
        (br_if $outerDone (i32.ge_u (local.get $o) (local.get $outer)))
        (local.set $base (i32.add (local.get $out) (i32.shl (i32.mul (local.get $o) (local.get $width)) (i32.const 2))))
        ;; out row o = +0
        (local.set $c (i32.const 0))
        (block $zeroDone
          (loop $zero
            (br_if $zeroDone (i32.ge_u (local.get $c) (local.get $width)))
            (f32.store (i32.add (local.get $base) (i32.shl (local.get $c) (i32.const 2))) (f32.const 0))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $zero)))
        (local.set $r (i32.const 0))
        (block $rowsDone
          (loop $rowLoop
            (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $c (i32.const 0))
            (local.set $q (local.get $base))
            (block $vectorDone
              (loop $vector
                (br_if $vectorDone (i32.ge_u (local.get $c) (local.get $vectorEnd)))
                (v128.store align=4 (local.get $q) (f32x4.add (v128.load align=4 (local.get $q)) (v128.load align=4 (local.get $p))))
                (local.set $p (i32.add (local.get $p) (i32.const 16)))
                (local.set $q (i32.add (local.get $q) (i32.const 16)))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $vector)))
            (block $tailDone
              (loop $tail
                (br_if $tailDone (i32.ge_u (local.get $c) (local.get $width)))
                (f32.store (local.get $q) (f32.add (f32.load (local.get $q)) (f32.load (local.get $p))))
                (local.set $p (i32.add (local.get $p) (i32.const 4)))
                (local.set $q (i32.add (local.get $q) (i32.const 4)))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $tail)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rowLoop)))
        ;; out row o /= rows
        (local.set $c (i32.const 0))
        (block $divideDone
          (loop $divide
            (br_if $divideDone (i32.ge_u (local.get $c) (local.get $width)))
            (local.set $q (i32.add (local.get $base) (i32.shl (local.get $c) (i32.const 2))))
            (f32.store (local.get $q) (f32.div (f32.load (local.get $q)) (local.get $n)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $divide)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $outerLoop))))
)
