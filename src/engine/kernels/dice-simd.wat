;; DIN's Dice activation in training mode, forward and backward, over x [rows, n] float32 (n a
;; multiple of 4) in the memory it imports (tfjs-backend-wasm's heap). Compiled by `npm run
;; build:wasm` (scripts/build-wasm.ts) into dice-simd.wasm.ts; dice-kernel.ts calls these passes
;; and computes the per-channel values between them. All pointers are byte offsets.
;;
;; Per channel c, with row weights w (1 for a real position, 0 for padding) and count = max(Σ w, 1):
;;   mean = Σ w·x / count,  var = Σ w·(x − mean)² / count,  inv = 1 / sqrt(var + ε)
;;   z = (x − mean)·inv,  p = sigmoid(z),  y = x·(α + p·(1 − α))
;; The backward pass, for dy = ∂L/∂y (g = ∂L/∂z, through both the row itself and the batch moments):
;;   t = dy·x,  ∂L/∂α = Σ t·(1 − p),  g = t·(1 − α)·p·(1 − p),  G1 = Σ g,  G2 = Σ g·z  (over all rows)
;;   ∂L/∂x = dy·(α + p·(1 − α)) + inv·g − w·(k1 + z·k2),  k1 = inv·G1 / count,  k2 = inv·G2 / count
;; Sums are float64 (each row's four lanes promoted and added in row order); every other operation
;; is float32. exp is Cephes' expf (range reduction by ln 2, a degree-5 polynomial, 2^k built in the
;; exponent bits), clamped to [−87, 88].
;;
;; params, an array of float32 per-channel vectors (n each, one after the other):
;;   +0 mean, +4n inv, +8n α, +12n 1 − α, +16n k1, +20n k2.
(module
  (import "env" "memory" (memory 0))

  ;; acc[c] += v's four lanes (float64 acc[c..c+3] at $a).
  (func $accumulate (param $a i32) (param $v v128)
    (v128.store align=8 (local.get $a) (f64x2.add (v128.load align=8 (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
    (v128.store offset=16 align=8 (local.get $a)
      (f64x2.add (v128.load offset=16 align=8 (local.get $a))
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v))))))

  ;; acc[0, count) = +0 (float64).
  (func $zero (param $acc i32) (param $count i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $count) (i32.const 3))))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
        (f64.store (local.get $acc) (f64.const 0))
        (local.set $acc (i32.add (local.get $acc) (i32.const 8)))
        (br $loop))))

  ;; acc[c] = Σ_r w[r]·x[r][c] (n float64 at acc); returns Σ_r w[r]. Rows of weight 0 are skipped.
  (func (export "weightedSums") (param $x i32) (param $w i32) (param $rows i32) (param $n i32) (param $acc i32) (result f64)
    (local $r i32) (local $c i32) (local $wr f32) (local $count f64) (local $p i32) (local $a i32)
    (call $zero (local.get $acc) (local.get $n))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $wr (f32.load (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 2)))))
        (if (f32.ne (local.get $wr) (f32.const 0))
          (then
            (local.set $count (f64.add (local.get $count) (f64.promote_f32 (local.get $wr))))
            (local.set $p (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $n)) (i32.const 2))))
            (local.set $a (local.get $acc))
            (local.set $c (i32.const 0))
            (block $colsDone
              (loop $cols
                (br_if $colsDone (i32.ge_u (local.get $c) (local.get $n)))
                (call $accumulate (local.get $a) (f32x4.mul (v128.load align=4 (local.get $p)) (f32x4.splat (local.get $wr))))
                (local.set $p (i32.add (local.get $p) (i32.const 16)))
                (local.set $a (i32.add (local.get $a) (i32.const 32)))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $cols)))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop)))
    (local.get $count))

  ;; acc[c] = Σ_r w[r]·(x[r][c] − mean[c])² (n float64 at acc; mean: n float32). Rows of weight 0 are skipped.
  (func (export "weightedSquares") (param $x i32) (param $w i32) (param $rows i32) (param $n i32) (param $mean i32) (param $acc i32)
    (local $r i32) (local $c i32) (local $wr f32) (local $p i32) (local $a i32) (local $d v128)
    (call $zero (local.get $acc) (local.get $n))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $wr (f32.load (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 2)))))
        (if (f32.ne (local.get $wr) (f32.const 0))
          (then
            (local.set $p (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $n)) (i32.const 2))))
            (local.set $a (local.get $acc))
            (local.set $c (i32.const 0))
            (block $colsDone
              (loop $cols
                (br_if $colsDone (i32.ge_u (local.get $c) (local.get $n)))
                (local.set $d (f32x4.sub (v128.load align=4 (local.get $p))
                  (v128.load align=4 (i32.add (local.get $mean) (i32.shl (local.get $c) (i32.const 2))))))
                (call $accumulate (local.get $a) (f32x4.mul (f32x4.mul (local.get $d) (local.get $d)) (f32x4.splat (local.get $wr))))
                (local.set $p (i32.add (local.get $p) (i32.const 16)))
                (local.set $a (i32.add (local.get $a) (i32.const 32)))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $cols)))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop)))
  )

;; p = sigmoid((x − mean)·inv) over every row, written to out; with asOutput ≠ 0, y = x·(α + p·(1 − α))
  ;; instead. exp is written out here, not called: V8 (Node 20) does not inline wasm calls, and a
  ;; call per four values doubled the pass's time.
  (func (export "sigmoidPass") (param $x i32) (param $rows i32) (param $n i32) (param $params i32) (param $out i32) (param $asOutput i32)
    (local $end i32) (local $c4 i32) (local $row4 i32) (local $q i32) (local $xv v128) (local $v v128) (local $k v128) (local $r v128) (local $y v128) (local $p v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (i32.mul (local.get $rows) (local.get $n)) (i32.const 2))))
    (local.set $row4 (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $c4 (i32.const 0))
        (block $colsDone
          (loop $cols
            (br_if $colsDone (i32.ge_u (local.get $c4) (local.get $row4)))
            (local.set $q (i32.add (local.get $params) (local.get $c4)))
            (local.set $xv (v128.load align=4 (i32.add (local.get $x) (local.get $c4))))
            ;; v = −z, clamped to [−87, 88] (so that 2^k stays a normal float)
            (local.set $v (f32x4.mul (f32x4.sub (v128.load align=4 (local.get $q)) (local.get $xv))
              (v128.load align=4 (i32.add (local.get $q) (local.get $row4)))))
            (local.set $v (f32x4.min (f32x4.max (local.get $v) (v128.const f32x4 -87 -87 -87 -87)) (v128.const f32x4 88 88 88 88)))
            ;; exp(v) = 2^k · e^r, k = round(v / ln 2), r = v − k·ln 2 (ln 2 in two parts, k·C1 exact)
            (local.set $k (f32x4.nearest (f32x4.mul (local.get $v) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))))
            (local.set $r (f32x4.sub (local.get $v) (f32x4.mul (local.get $k) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
            (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $k) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
            (local.set $y (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
            (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
            (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
            (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
            (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
            (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
            (local.set $y (f32x4.add (f32x4.add (f32x4.mul (local.get $y) (f32x4.mul (local.get $r) (local.get $r))) (local.get $r)) (v128.const f32x4 1 1 1 1)))
            ;; · 2^k, built as the bits (k + 127) << 23; then p = 1 / (1 + exp(−z))
            (local.set $y (f32x4.mul (local.get $y)
              (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))
            (local.set $p (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $y))))
            (if (local.get $asOutput)
              (then
                (local.set $p (f32x4.mul (local.get $xv)
                  (f32x4.add (v128.load align=4 (i32.add (local.get $q) (i32.shl (local.get $row4) (i32.const 1))))
                    (f32x4.mul (local.get $p) (v128.load align=4 (i32.add (local.get $q) (i32.mul (local.get $row4) (i32.const 3))))))))))
            (v128.store align=4 (i32.add (local.get $out) (local.get $c4)) (local.get $p))
            (local.set $c4 (i32.add (local.get $c4) (i32.const 16)))
            (br $cols)))
        (local.set $x (i32.add (local.get $x) (local.get $row4)))
        (local.set $out (i32.add (local.get $out) (local.get $row4)))
        (br $loop))))

;; The backward pass's sums over every row, from p (sigmoidPass's, in dx): acc = [∂L/∂α, G1, G2]
  ;; (3n float64). The three sums are added inline (no call, as in sigmoidPass).
  (func (export "gradSums") (param $dy i32) (param $x i32) (param $pIn i32) (param $rows i32) (param $n i32) (param $params i32) (param $acc i32)
    (local $r i32) (local $c4 i32) (local $row4 i32) (local $at i32) (local $q i32) (local $a i32)
    (local $xv v128) (local $z v128) (local $p v128) (local $t v128) (local $g v128) (local $v v128)
    (local.set $row4 (i32.shl (local.get $n) (i32.const 2)))
    (call $zero (local.get $acc) (i32.mul (local.get $n) (i32.const 3)))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c4 (i32.const 0))
        (block $colsDone
          (loop $cols
            (br_if $colsDone (i32.ge_u (local.get $c4) (local.get $row4)))
            (local.set $at (i32.add (i32.mul (local.get $r) (local.get $row4)) (local.get $c4)))
            (local.set $q (i32.add (local.get $params) (local.get $c4)))
            (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $c4) (i32.const 1))))
            (local.set $xv (v128.load align=4 (i32.add (local.get $x) (local.get $at))))
            (local.set $z (f32x4.mul (f32x4.sub (local.get $xv) (v128.load align=4 (local.get $q)))
              (v128.load align=4 (i32.add (local.get $q) (local.get $row4)))))
            (local.set $p (v128.load align=4 (i32.add (local.get $pIn) (local.get $at))))
            (local.set $t (f32x4.mul (v128.load align=4 (i32.add (local.get $dy) (local.get $at))) (local.get $xv)))
            ;; ∂L/∂α += t·(1 − p)
            (local.set $v (f32x4.mul (local.get $t) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $p))))
            (v128.store align=8 (local.get $a) (f64x2.add (v128.load align=8 (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
            (v128.store offset=16 align=8 (local.get $a) (f64x2.add (v128.load offset=16 align=8 (local.get $a))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
            ;; g = t·(1 − α)·p·(1 − p); G1 += g
            (local.set $g (f32x4.mul (f32x4.mul (f32x4.mul (local.get $t) (v128.load align=4 (i32.add (local.get $q) (i32.mul (local.get $row4) (i32.const 3)))))
              (local.get $p)) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $p))))
            (local.set $a (i32.add (local.get $a) (i32.shl (local.get $row4) (i32.const 1))))
            (v128.store align=8 (local.get $a) (f64x2.add (v128.load align=8 (local.get $a)) (f64x2.promote_low_f32x4 (local.get $g))))
            (v128.store offset=16 align=8 (local.get $a) (f64x2.add (v128.load offset=16 align=8 (local.get $a))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $g) (local.get $g)))))
            ;; G2 += g·z
            (local.set $v (f32x4.mul (local.get $g) (local.get $z)))
            (local.set $a (i32.add (local.get $a) (i32.shl (local.get $row4) (i32.const 1))))
            (v128.store align=8 (local.get $a) (f64x2.add (v128.load align=8 (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
            (v128.store offset=16 align=8 (local.get $a) (f64x2.add (v128.load offset=16 align=8 (local.get $a))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
            (local.set $c4 (i32.add (local.get $c4) (i32.const 16)))
            (br $cols)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; ∂L/∂x in place of p (dx holds sigmoidPass's p): dy·(α + p·(1 − α)) + inv·g − w·(k1 + z·k2).
  (func (export "gradInput") (param $dy i32) (param $x i32) (param $w i32) (param $rows i32) (param $n i32) (param $params i32) (param $dx i32)
    (local $r i32) (local $c4 i32) (local $row4 i32) (local $at i32) (local $q i32)
    (local $xv v128) (local $z v128) (local $p v128) (local $dyv v128) (local $oma v128) (local $g v128) (local $wv v128)
    (local.set $row4 (i32.shl (local.get $n) (i32.const 2)))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $wv (v128.load32_splat (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 2)))))
        (local.set $c4 (i32.const 0))
        (block $colsDone
          (loop $cols
            (br_if $colsDone (i32.ge_u (local.get $c4) (local.get $row4)))
            (local.set $at (i32.add (i32.mul (local.get $r) (local.get $row4)) (local.get $c4)))
            (local.set $q (i32.add (local.get $params) (local.get $c4)))
            (local.set $xv (v128.load align=4 (i32.add (local.get $x) (local.get $at))))
            (local.set $z (f32x4.mul (f32x4.sub (local.get $xv) (v128.load align=4 (local.get $q)))
              (v128.load align=4 (i32.add (local.get $q) (local.get $row4)))))
            (local.set $p (v128.load align=4 (i32.add (local.get $dx) (local.get $at))))
            (local.set $dyv (v128.load align=4 (i32.add (local.get $dy) (local.get $at))))
            (local.set $oma (v128.load align=4 (i32.add (local.get $q) (i32.mul (local.get $row4) (i32.const 3)))))
            (local.set $g (f32x4.mul (f32x4.mul (f32x4.mul (f32x4.mul (local.get $dyv) (local.get $xv)) (local.get $oma))
              (local.get $p)) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $p))))
            (v128.store align=4 (i32.add (local.get $dx) (local.get $at))
              (f32x4.sub
                (f32x4.add
                  (f32x4.mul (local.get $dyv)
                    (f32x4.add (v128.load align=4 (i32.add (local.get $q) (i32.shl (local.get $row4) (i32.const 1))))
                      (f32x4.mul (local.get $p) (local.get $oma))))
                  (f32x4.mul (v128.load align=4 (i32.add (local.get $q) (local.get $row4))) (local.get $g)))
                (f32x4.mul (local.get $wv)
                  (f32x4.add (v128.load align=4 (i32.add (local.get $q) (i32.shl (local.get $row4) (i32.const 2))))
                    (f32x4.mul (local.get $z) (v128.load align=4 (i32.add (local.get $q) (i32.mul (local.get $row4) (i32.const 5)))))))))
            (local.set $c4 (i32.add (local.get $c4) (i32.const 16)))
            (br $cols)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))
)
