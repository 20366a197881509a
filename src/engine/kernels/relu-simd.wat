;; ReLU and its gradient over float32 arrays in the memory it imports (tfjs-backend-wasm's heap),
;; each in one pass with f32x4 SIMD and a scalar loop for the last n mod 4 elements. Compiled by
;; `npm run build:wasm` (scripts/build-wasm.ts) into relu-simd.wasm.ts; the kernel tests check
;; that the committed bytes are what this file compiles to.
;;
;; reluGradSum(dy, x, out, acc, sums, rows, n): reluGrad over rows × n values, and the column sums
;;   of its result: sums[c] = Σ_r out[r][c], accumulated in float64 from +0 in row order at acc (n
;;   float64 of scratch) and rounded once: the same bits as sum-simd.wat's sumRows on out, in the
;;   same pass (a Dense layer's ReLU backward and its bias gradient).
;;
;; relu(x, out, n): out = x if x > 0 or x is NaN, else +0 (byte offsets of n float32 values; out may
;;   be x): tfjs-backend-wasm's Relu kernel, bit for bit (it maps −0 to +0 and keeps a NaN).
;;
;; addBias(out, bias, rows, n, relu): in place on rows × n values, out[r][c] = out[r][c] + bias[c],
;;   then relu as above when `relu` is not 0: the epilogue of a matmul, in one pass. One float32
;;   addition per element, as tfjs-backend-wasm's Add kernel makes, so the same bits as Add then Relu.
;;
;; reluGrad(dy, x, out, n): out = dy · step(x), byte offsets of n float32 values each, where
;;   step(x) = 1 if x > 0, x itself if x is NaN, else +0
;; which is what tfjs's Relu gradient computes with three kernels, mul(dy, cast(step(x))): the same
;; multiplication by the same factor, so the same bits (dy · +0 keeps dy's sign: −0 for dy < 0; NaN
;; for an infinite or NaN dy, or a NaN x). Each element is read before it is written.
(module
  (import "env" "memory" (memory 0))
  (func (export "reluGrad") (param $dy i32) (param $x i32) (param $out i32) (param $n i32)
    (local $at i32) (local $vectorEnd i32) (local $end i32)
    (local $xv v128) (local $one v128) (local $xs f32)
    (local.set $one (f32x4.splat (f32.const 1)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vectorEnd (i32.and (local.get $end) (i32.const -16)))

    (local.set $at (i32.const 0))
    (block $vectorDone
      (loop $vector
        (br_if $vectorDone (i32.ge_u (local.get $at) (local.get $vectorEnd)))
        (local.set $xv (v128.load align=4 (i32.add (local.get $x) (local.get $at))))
        (v128.store align=4 (i32.add (local.get $out) (local.get $at))
          (f32x4.mul
            (v128.load align=4 (i32.add (local.get $dy) (local.get $at)))
            ;; (x > 0 ? 1.0 : +0.0) | (x is NaN ? x : +0.0), lane by lane
            (v128.or
              (v128.and (f32x4.gt (local.get $xv) (v128.const f32x4 0 0 0 0)) (local.get $one))
              (v128.and (f32x4.ne (local.get $xv) (local.get $xv)) (local.get $xv)))))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (br $vector)))

    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $xs (f32.load (i32.add (local.get $x) (local.get $at))))
        (f32.store (i32.add (local.get $out) (local.get $at))
          (f32.mul
            (f32.load (i32.add (local.get $dy) (local.get $at)))
            (select
              (f32.const 1)
              (select (local.get $xs) (f32.const 0) (f32.ne (local.get $xs) (local.get $xs)))
              (f32.gt (local.get $xs) (f32.const 0)))))
        (local.set $at (i32.add (local.get $at) (i32.const 4)))
        (br $tail))))

  (func (export "relu") (param $x i32) (param $out i32) (param $n i32)
    (local $at i32) (local $vectorEnd i32) (local $end i32) (local $xv v128) (local $xs f32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vectorEnd (i32.and (local.get $end) (i32.const -16)))
    (local.set $at (i32.const 0))
    (block $vectorDone
      (loop $vector
        (br_if $vectorDone (i32.ge_u (local.get $at) (local.get $vectorEnd)))
        (local.set $xv (v128.load align=4 (i32.add (local.get $x) (local.get $at))))
        ;; x & (x > 0 | x is NaN), lane by lane: the other lanes become +0
        (v128.store align=4 (i32.add (local.get $out) (local.get $at))
          (v128.and (local.get $xv)
            (v128.or (f32x4.gt (local.get $xv) (v128.const f32x4 0 0 0 0)) (f32x4.ne (local.get $xv) (local.get $xv)))))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (br $vector)))
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $xs (f32.load (i32.add (local.get $x) (local.get $at))))
        (f32.store (i32.add (local.get $out) (local.get $at))
          (select (local.get $xs) (f32.const 0)
            (i32.or (f32.gt (local.get $xs) (f32.const 0)) (f32.ne (local.get $xs) (local.get $xs)))))
        (local.set $at (i32.add (local.get $at) (i32.const 4)))
        (br $tail))))

  (func (export "addBias") (param $out i32) (param $bias i32) (param $rows i32) (param $n i32) (param $relu i32)
    (local $row i32) (local $rowEnd i32) (local $vectorEnd i32) (local $p i32) (local $b i32)
    (local $v v128) (local $keep v128) (local $s f32)
    ;; keep: all ones when relu is off (the mask then keeps every lane)
    (local.set $keep (i32x4.splat (i32.sub (i32.const 0) (i32.eqz (local.get $relu)))))
    (local.set $p (local.get $out))
    (local.set $row (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $row) (local.get $rows)))
        (local.set $rowEnd (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $vectorEnd (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
        (local.set $b (local.get $bias))
        (block $vectorDone
          (loop $vector
            (br_if $vectorDone (i32.ge_u (local.get $p) (local.get $vectorEnd)))
            (local.set $v (f32x4.add (v128.load align=4 (local.get $p)) (v128.load align=4 (local.get $b))))
            (v128.store align=4 (local.get $p)
              (v128.and (local.get $v)
                (v128.or (local.get $keep)
                  (v128.or (f32x4.gt (local.get $v) (v128.const f32x4 0 0 0 0)) (f32x4.ne (local.get $v) (local.get $v))))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (local.set $b (i32.add (local.get $b) (i32.const 16)))
            (br $vector)))
        (block $tailDone
          (loop $tail
            (br_if $tailDone (i32.ge_u (local.get $p) (local.get $rowEnd)))
            (local.set $s (f32.add (f32.load (local.get $p)) (f32.load (local.get $b))))
            (f32.store (local.get $p)
              (select (local.get $s) (f32.const 0)
                (i32.or (i32.eqz (local.get $relu))
                  (i32.or (f32.gt (local.get $s) (f32.const 0)) (f32.ne (local.get $s) (local.get $s))))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $b (i32.add (local.get $b) (i32.const 4)))
            (br $tail)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $rowLoop))))

  (func (export "reluGradSum") (param $dy i32) (param $x i32) (param $out i32) (param $acc i32) (param $sums i32) (param $rows i32) (param $n i32)
    (local $r i32) (local $c i32) (local $vectorEnd i32) (local $at i32) (local $a i32)
    (local $xv v128) (local $g v128) (local $one v128) (local $xs f32) (local $gs f32)
    (local.set $one (f32x4.splat (f32.const 1)))
    (local.set $vectorEnd (i32.and (local.get $n) (i32.const -4)))
    ;; acc = 0
    (local.set $c (i32.const 0))
    (block $zeroDone
      (loop $zero
        (br_if $zeroDone (i32.ge_u (local.get $c) (local.get $n)))
        (f64.store (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))) (f64.const 0))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $zero)))
    (local.set $at (i32.const 0))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (local.set $a (local.get $acc))
        (block $vectorDone
          (loop $vector
            (br_if $vectorDone (i32.ge_u (local.get $c) (local.get $vectorEnd)))
            (local.set $xv (v128.load align=4 (i32.add (local.get $x) (local.get $at))))
            (local.set $g
              (f32x4.mul
                (v128.load align=4 (i32.add (local.get $dy) (local.get $at)))
                (v128.or
                  (v128.and (f32x4.gt (local.get $xv) (v128.const f32x4 0 0 0 0)) (local.get $one))
                  (v128.and (f32x4.ne (local.get $xv) (local.get $xv)) (local.get $xv)))))
            (v128.store align=4 (i32.add (local.get $out) (local.get $at)) (local.get $g))
            (v128.store align=8 (local.get $a)
              (f64x2.add (v128.load align=8 (local.get $a)) (f64x2.promote_low_f32x4 (local.get $g))))
            (v128.store offset=16 align=8 (local.get $a)
              (f64x2.add (v128.load offset=16 align=8 (local.get $a)) (f64x2.promote_low_f32x4
                (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $g) (local.get $g)))))
            (local.set $at (i32.add (local.get $at) (i32.const 16)))
            (local.set $a (i32.add (local.get $a) (i32.const 32)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $vector)))
        (block $tailDone
          (loop $tail
            (br_if $tailDone (i32.ge_u (local.get $c) (local.get $n)))
            (local.set $xs (f32.load (i32.add (local.get $x) (local.get $at))))
            (local.set $gs
              (f32.mul
                (f32.load (i32.add (local.get $dy) (local.get $at)))
                (select
                  (f32.const 1)
                  (select (local.get $xs) (f32.const 0) (f32.ne (local.get $xs) (local.get $xs)))
                  (f32.gt (local.get $xs) (f32.const 0)))))
            (f32.store (i32.add (local.get $out) (local.get $at)) (local.get $gs))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (local.get $gs))))
            (local.set $at (i32.add (local.get $at) (i32.const 4)))
            (local.set $a (i32.add (local.get $a) (i32.const 8)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop)))
    ;; sums = acc, rounded to float32
    (local.set $c (i32.const 0))
    (block $roundDone
      (loop $round
        (br_if $roundDone (i32.ge_u (local.get $c) (local.get $n)))
        (f32.store (i32.add (local.get $sums) (i32.shl (local.get $c) (i32.const 2)))
          (f32.demote_f64 (f64.load (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $round))))
)
