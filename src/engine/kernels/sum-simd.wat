;; Column sums of row-major float32 blocks in the memory it imports (tfjs-backend-wasm's heap): the
;; wasm Sum override's reduction over a block of consecutive non-innermost axes (a bias gradient,
;; [batch, n] → [n]). Compiled by `npm run build:wasm` (scripts/build-wasm.ts) into sum-simd.wasm.ts.
;;
;; sumRows(x, out, outer, rows, width): x holds `outer` blocks of rows × width values, out `outer`
;;   rows of width values (byte offsets); out[o][c] = Σ_r x[o][r][c].
;; Every column is accumulated in float64, starting from +0, adding the rows in order, and rounded
;; to float32 once at the end: the same additions as the JS loop it replaces (wasm-sum.ts's
;; sumRowsJs), so the same bits. 16 columns at a time (8 f64x2 accumulators kept in registers, one
;; 64-byte line per row), then 4 at a time, then one by one for the last width mod 4.
(module
  (import "env" "memory" (memory 0))
  (func (export "sumRows") (param $x i32) (param $out i32) (param $outer i32) (param $rows i32) (param $width i32)
    (local $rowBytes i32) (local $blockBytes i32) (local $o i32) (local $base i32) (local $dst i32)
    (local $col i32) (local $p i32) (local $end i32) (local $v v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local $s f64)
    (local.set $rowBytes (i32.shl (local.get $width) (i32.const 2)))
    (local.set $blockBytes (i32.mul (local.get $rows) (local.get $rowBytes)))
    (local.set $o (i32.const 0))
    (block $outerDone
      (loop $outerLoop
        (br_if $outerDone (i32.ge_u (local.get $o) (local.get $outer)))
        (local.set $base (i32.add (local.get $x) (i32.mul (local.get $o) (local.get $blockBytes))))
        (local.set $dst (i32.add (local.get $out) (i32.mul (local.get $o) (local.get $rowBytes))))
        (local.set $col (i32.const 0))

        ;; 16 columns at a time.
        (block $wideDone
          (loop $wide
            (br_if $wideDone (i32.gt_u (i32.add (local.get $col) (i32.const 64)) (local.get $rowBytes)))
            (local.set $a0 (v128.const f64x2 0 0)) (local.set $a1 (v128.const f64x2 0 0))
            (local.set $a2 (v128.const f64x2 0 0)) (local.set $a3 (v128.const f64x2 0 0))
            (local.set $a4 (v128.const f64x2 0 0)) (local.set $a5 (v128.const f64x2 0 0))
            (local.set $a6 (v128.const f64x2 0 0)) (local.set $a7 (v128.const f64x2 0 0))
            (local.set $p (i32.add (local.get $base) (local.get $col)))
            (local.set $end (i32.add (local.get $p) (local.get $blockBytes)))
            (block $rowsDone
              (loop $rowLoop
                (br_if $rowsDone (i32.ge_u (local.get $p) (local.get $end)))
                (local.set $v (v128.load align=4 (local.get $p)))
                (local.set $a0 (f64x2.add (local.get $a0) (f64x2.promote_low_f32x4 (local.get $v))))
                (local.set $a1 (f64x2.add (local.get $a1) (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
                (local.set $v (v128.load offset=16 align=4 (local.get $p)))
                (local.set $a2 (f64x2.add (local.get $a2) (f64x2.promote_low_f32x4 (local.get $v))))
                (local.set $a3 (f64x2.add (local.get $a3) (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
                (local.set $v (v128.load offset=32 align=4 (local.get $p)))
                (local.set $a4 (f64x2.add (local.get $a4) (f64x2.promote_low_f32x4 (local.get $v))))
                (local.set $a5 (f64x2.add (local.get $a5) (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
                (local.set $v (v128.load offset=48 align=4 (local.get $p)))
                (local.set $a6 (f64x2.add (local.get $a6) (f64x2.promote_low_f32x4 (local.get $v))))
                (local.set $a7 (f64x2.add (local.get $a7) (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
                (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
                (br $rowLoop)))
            (local.set $p (i32.add (local.get $dst) (local.get $col)))
            (v128.store align=4 (local.get $p)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero (local.get $a0)) (f32x4.demote_f64x2_zero (local.get $a1))))
            (v128.store offset=16 align=4 (local.get $p)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero (local.get $a2)) (f32x4.demote_f64x2_zero (local.get $a3))))
            (v128.store offset=32 align=4 (local.get $p)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero (local.get $a4)) (f32x4.demote_f64x2_zero (local.get $a5))))
            (v128.store offset=48 align=4 (local.get $p)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero (local.get $a6)) (f32x4.demote_f64x2_zero (local.get $a7))))
            (local.set $col (i32.add (local.get $col) (i32.const 64)))
            (br $wide)))

        ;; 4 columns at a time.
        (block $quadDone
          (loop $quad
            (br_if $quadDone (i32.gt_u (i32.add (local.get $col) (i32.const 16)) (local.get $rowBytes)))
            (local.set $a0 (v128.const f64x2 0 0)) (local.set $a1 (v128.const f64x2 0 0))
            (local.set $p (i32.add (local.get $base) (local.get $col)))
            (local.set $end (i32.add (local.get $p) (local.get $blockBytes)))
            (block $rowsDone
              (loop $rowLoop
                (br_if $rowsDone (i32.ge_u (local.get $p) (local.get $end)))
                (local.set $v (v128.load align=4 (local.get $p)))
                (local.set $a0 (f64x2.add (local.get $a0) (f64x2.promote_low_f32x4 (local.get $v))))
                (local.set $a1 (f64x2.add (local.get $a1) (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
                (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
                (br $rowLoop)))
            (v128.store align=4 (i32.add (local.get $dst) (local.get $col))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero (local.get $a0)) (f32x4.demote_f64x2_zero (local.get $a1))))
            (local.set $col (i32.add (local.get $col) (i32.const 16)))
            (br $quad)))

        ;; The last width mod 4 columns, one by one.
        (block $oneDone
          (loop $one
            (br_if $oneDone (i32.ge_u (local.get $col) (local.get $rowBytes)))
            (local.set $s (f64.const 0))
            (local.set $p (i32.add (local.get $base) (local.get $col)))
            (local.set $end (i32.add (local.get $p) (local.get $blockBytes)))
            (block $rowsDone
              (loop $rowLoop
                (br_if $rowsDone (i32.ge_u (local.get $p) (local.get $end)))
                (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32.load (local.get $p)))))
                (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
                (br $rowLoop)))
            (f32.store (i32.add (local.get $dst) (local.get $col)) (f32.demote_f64 (local.get $s)))
            (local.set $col (i32.add (local.get $col) (i32.const 4)))
            (br $one)))

        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $outerLoop))))
)
