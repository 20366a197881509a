;; One Adam update over float32 arrays in the memory it imports (tfjs-backend-wasm's heap), with
;; f32x4 SIMD for the main loop and a scalar loop for the last n mod 4 elements. Compiled by
;; `npm run build:wasm` (scripts/build-wasm.ts) into adam-simd.wasm.ts; test/kernels-adam.test.ts
;; checks that the committed bytes are what this file compiles to.
;;
;; adam(p, m, v, g, pOut, mOut, vOut, n, beta1, oneMinusBeta1, beta2, oneMinusBeta2, step, inverse2, epsilon)
;;   p, m, v, g, pOut, mOut, vOut: byte offsets of n float32 values each. An output may be its own
;;   input (pOut = p, ...): each element is read before it is written and no other one is touched.
;;   m' = beta1·m + oneMinusBeta1·g;  v' = beta2·v + (oneMinusBeta2·g)·g
;;   p' = p − (step·m') / (√(v'·inverse2) + epsilon)      with step = lr/c1, inverse2 = 1/c2
;; Every operation rounds to float32 (no fused multiply-add in wasm, so results do not depend on
;; the machine). Loads and stores carry the alignment hint 4, a float's: wasm accepts any
;; address, and the hint promises no more alignment than a tensor's buffer is sure to have.
(module
  (import "env" "memory" (memory 0))
  (func (export "adam")
    (param $p i32) (param $m i32) (param $v i32) (param $g i32)
    (param $pOut i32) (param $mOut i32) (param $vOut i32) (param $n i32)
    (param $beta1 f32) (param $oneMinusBeta1 f32) (param $beta2 f32) (param $oneMinusBeta2 f32)
    (param $step f32) (param $inverse2 f32) (param $epsilon f32)
    (local $at i32) (local $vectorEnd i32) (local $end i32)
    (local $gi v128) (local $mi v128) (local $vi v128)
    (local $b1 v128) (local $c1 v128) (local $b2 v128) (local $c2 v128)
    (local $s v128) (local $inv v128) (local $eps v128)
    (local $gs f32) (local $ms f32) (local $vs f32)

    (local.set $b1 (f32x4.splat (local.get $beta1)))
    (local.set $c1 (f32x4.splat (local.get $oneMinusBeta1)))
    (local.set $b2 (f32x4.splat (local.get $beta2)))
    (local.set $c2 (f32x4.splat (local.get $oneMinusBeta2)))
    (local.set $s (f32x4.splat (local.get $step)))
    (local.set $inv (f32x4.splat (local.get $inverse2)))
    (local.set $eps (f32x4.splat (local.get $epsilon)))

    ;; Byte offsets within each array: [0, vectorEnd) four at a time, then [vectorEnd, end) one by one.
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vectorEnd (i32.and (local.get $end) (i32.const -16)))

    (local.set $at (i32.const 0))
    (block $vectorDone
      (loop $vector
        (br_if $vectorDone (i32.ge_u (local.get $at) (local.get $vectorEnd)))
        (local.set $gi (v128.load align=4 (i32.add (local.get $g) (local.get $at))))
        (local.set $mi
          (f32x4.add
            (f32x4.mul (local.get $b1) (v128.load align=4 (i32.add (local.get $m) (local.get $at))))
            (f32x4.mul (local.get $c1) (local.get $gi))))
        (local.set $vi
          (f32x4.add
            (f32x4.mul (local.get $b2) (v128.load align=4 (i32.add (local.get $v) (local.get $at))))
            (f32x4.mul (f32x4.mul (local.get $c2) (local.get $gi)) (local.get $gi))))
        ;; Every input of these four elements (p too, inside the store) is loaded before the first store.
        (v128.store align=4 (i32.add (local.get $pOut) (local.get $at))
          (f32x4.sub
            (v128.load align=4 (i32.add (local.get $p) (local.get $at)))
            (f32x4.div
              (f32x4.mul (local.get $s) (local.get $mi))
              (f32x4.add (f32x4.sqrt (f32x4.mul (local.get $vi) (local.get $inv))) (local.get $eps)))))
        (v128.store align=4 (i32.add (local.get $mOut) (local.get $at)) (local.get $mi))
        (v128.store align=4 (i32.add (local.get $vOut) (local.get $at)) (local.get $vi))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (br $vector)))

    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $at))))
        (local.set $ms
          (f32.add
            (f32.mul (local.get $beta1) (f32.load (i32.add (local.get $m) (local.get $at))))
            (f32.mul (local.get $oneMinusBeta1) (local.get $gs))))
        (local.set $vs
          (f32.add
            (f32.mul (local.get $beta2) (f32.load (i32.add (local.get $v) (local.get $at))))
            (f32.mul (f32.mul (local.get $oneMinusBeta2) (local.get $gs)) (local.get $gs))))
        (f32.store (i32.add (local.get $pOut) (local.get $at))
          (f32.sub
            (f32.load (i32.add (local.get $p) (local.get $at)))
            (f32.div
              (f32.mul (local.get $step) (local.get $ms))
              (f32.add (f32.sqrt (f32.mul (local.get $vs) (local.get $inverse2))) (local.get $epsilon)))))
        (f32.store (i32.add (local.get $mOut) (local.get $at)) (local.get $ms))
        (f32.store (i32.add (local.get $vOut) (local.get $at)) (local.get $vs))
        (local.set $at (i32.add (local.get $at) (i32.const 4)))
        (br $tail))))
)
