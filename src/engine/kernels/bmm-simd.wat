;; Batched products of small matrices over float32 arrays in the memory it imports (tfjs-backend-wasm's
;; heap): out[i] = op(a[i]) · op(b[i]) for i < batch, with f32x4 SIMD. Compiled by `npm run build:wasm`
;; (scripts/build-wasm.ts) into bmm-simd.wasm.ts; the kernel tests check that the committed bytes are
;; what this file compiles to.
;;
;; bmm(a, b, out, batch, m, n, k, strideA, strideB, transA, transB)
;;   a, b, out: byte offsets. op(a[i]) is m × k (a[i] stored k × m when transA ≠ 0), op(b[i]) is k × n
;;   (stored n × k when transB ≠ 0); a[i] starts strideA floats after a[i−1] (0: one matrix for every
;;   i), likewise b; out[i] is m × n, row-major, after out[i−1].
;;
;; Which loop depends on where b's elements are contiguous:
;;   transB = 0: four output columns at a time, out[r][c..c+3] = Σ_t a(r,t) · b[t][c..c+3], t in order
;;               (each lane is the plain sequential sum); the last n mod 4 columns scalar, likewise.
;;   transB ≠ 0, transA = 0: dot products along t, four products at a time into four partial sums
;;               (lanes added 0+1, 2+3, then together), the last k mod 4 products added after them.
;;   both transposed: scalar sequential sums.
;; Products and sums are float32 (no fused multiply-add), as in tfjs-backend-wasm's own kernel.
(module
  (import "env" "memory" (memory 0))
  (func (export "bmm")
    (param $a i32) (param $b i32) (param $out i32) (param $batch i32) (param $m i32) (param $n i32) (param $k i32)
    (param $strideA i32) (param $strideB i32) (param $transA i32) (param $transB i32)
    (local $i i32) (local $r i32) (local $c i32) (local $t i32)
    (local $aBase i32) (local $bBase i32) (local $oBase i32)
    (local $aRow i32) (local $aStep i32) (local $ap i32) (local $bp i32) (local $bRowBytes i32)
    (local $n4 i32) (local $k4 i32)
    (local $acc v128) (local $s f32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $k4 (i32.and (local.get $k) (i32.const -4)))
    (local.set $bRowBytes (i32.shl (local.get $n) (i32.const 2)))
    ;; Step between a(r, t) and a(r, t + 1) in bytes.
    (local.set $aStep (select (i32.shl (local.get $m) (i32.const 2)) (i32.const 4) (local.get $transA)))

    (local.set $i (i32.const 0))
    (block $batchDone
      (loop $batchLoop
        (br_if $batchDone (i32.ge_u (local.get $i) (local.get $batch)))
        (local.set $aBase (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $strideA)) (i32.const 2))))
        (local.set $bBase (i32.add (local.get $b) (i32.shl (i32.mul (local.get $i) (local.get $strideB)) (i32.const 2))))
        (local.set $oBase (i32.add (local.get $out) (i32.shl (i32.mul (local.get $i) (i32.mul (local.get $m) (local.get $n))) (i32.const 2))))

        (local.set $r (i32.const 0))
        (block $rowsDone
          (loop $rows
            (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $m)))
            ;; a(r, 0)
            (local.set $aRow
              (i32.add (local.get $aBase)
                (i32.shl (select (local.get $r) (i32.mul (local.get $r) (local.get $k)) (local.get $transA)) (i32.const 2))))

            (if (i32.eqz (local.get $transB))
              (then
                ;; Four columns at a time.
                (local.set $c (i32.const 0))
                (block $colsDone
                  (loop $cols
                    (br_if $colsDone (i32.ge_u (local.get $c) (local.get $n4)))
                    (local.set $acc (v128.const f32x4 0 0 0 0))
                    (local.set $ap (local.get $aRow))
                    (local.set $bp (i32.add (local.get $bBase) (i32.shl (local.get $c) (i32.const 2))))
                    (local.set $t (i32.const 0))
                    (block $kDone
                      (loop $kLoop
                        (br_if $kDone (i32.ge_u (local.get $t) (local.get $k)))
                        (local.set $acc
                          (f32x4.add (local.get $acc)
                            (f32x4.mul (f32x4.splat (f32.load (local.get $ap))) (v128.load align=4 (local.get $bp)))))
                        (local.set $ap (i32.add (local.get $ap) (local.get $aStep)))
                        (local.set $bp (i32.add (local.get $bp) (local.get $bRowBytes)))
                        (local.set $t (i32.add (local.get $t) (i32.const 1)))
                        (br $kLoop)))
                    (v128.store align=4
                      (i32.add (local.get $oBase) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $n)) (local.get $c)) (i32.const 2)))
                      (local.get $acc))
                    (local.set $c (i32.add (local.get $c) (i32.const 4)))
                    (br $cols)))
                ;; The last n mod 4 columns.
                (block $tailDone
                  (loop $tail
                    (br_if $tailDone (i32.ge_u (local.get $c) (local.get $n)))
                    (local.set $s (f32.const 0))
                    (local.set $ap (local.get $aRow))
                    (local.set $bp (i32.add (local.get $bBase) (i32.shl (local.get $c) (i32.const 2))))
                    (local.set $t (i32.const 0))
                    (block $kDone
                      (loop $kLoop
                        (br_if $kDone (i32.ge_u (local.get $t) (local.get $k)))
                        (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $ap)) (f32.load (local.get $bp)))))
                        (local.set $ap (i32.add (local.get $ap) (local.get $aStep)))
                        (local.set $bp (i32.add (local.get $bp) (local.get $bRowBytes)))
                        (local.set $t (i32.add (local.get $t) (i32.const 1)))
                        (br $kLoop)))
                    (f32.store
                      (i32.add (local.get $oBase) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $n)) (local.get $c)) (i32.const 2)))
                      (local.get $s))
                    (local.set $c (i32.add (local.get $c) (i32.const 1)))
                    (br $tail))))
              (else
                ;; b transposed: column c of op(b) is row c of b[i], contiguous along t.
                (local.set $c (i32.const 0))
                (block $colsDone
                  (loop $cols
                    (br_if $colsDone (i32.ge_u (local.get $c) (local.get $n)))
                    (local.set $bp (i32.add (local.get $bBase) (i32.shl (i32.mul (local.get $c) (local.get $k)) (i32.const 2))))
                    (local.set $ap (local.get $aRow))
                    (local.set $t (i32.const 0))
                    (if (i32.eqz (local.get $transA))
                      (then
                        (local.set $acc (v128.const f32x4 0 0 0 0))
                        (block $vDone
                          (loop $vLoop
                            (br_if $vDone (i32.ge_u (local.get $t) (local.get $k4)))
                            (local.set $acc
                              (f32x4.add (local.get $acc) (f32x4.mul (v128.load align=4 (local.get $ap)) (v128.load align=4 (local.get $bp)))))
                            (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
                            (local.set $bp (i32.add (local.get $bp) (i32.const 16)))
                            (local.set $t (i32.add (local.get $t) (i32.const 4)))
                            (br $vLoop)))
                        (local.set $s
                          (f32.add
                            (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                            (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))))
                      (else (local.set $s (f32.const 0))))
                    ;; The rest of the sum (all of it when a is transposed too), scalar.
                    (block $kDone
                      (loop $kLoop
                        (br_if $kDone (i32.ge_u (local.get $t) (local.get $k)))
                        (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $ap)) (f32.load (local.get $bp)))))
                        (local.set $ap (i32.add (local.get $ap) (local.get $aStep)))
                        (local.set $bp (i32.add (local.get $bp) (i32.const 4)))
                        (local.set $t (i32.add (local.get $t) (i32.const 1)))
                        (br $kLoop)))
                    (f32.store
                      (i32.add (local.get $oBase) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $n)) (local.get $c)) (i32.const 2)))
                      (local.get $s))
                    (local.set $c (i32.add (local.get $c) (i32.const 1)))
                    (br $cols)))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $batchLoop)))))
