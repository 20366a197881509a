;; Strided copies of short runs in the memory it imports (tfjs-backend-wasm's heap), for the kernels
;; that only move data (wasm-copy.ts: Concat, Pack, Unpack, SplitV, Slice). Compiled by
;; `npm run build:wasm` (scripts/build-wasm.ts) into copy-simd.wasm.ts; the kernel tests check that
;; the committed bytes are what this file compiles to.
;;
;; copyRuns(src, srcStride, dst, dstStride, length, count): for r < count, copies `length` bytes
;;   from src + r·srcStride to dst + r·dstStride (all in bytes; runs do not overlap): 16 bytes at a
;;   time, then 4, then 1.
;;
;; gatherRows(src, indices, dst, count, length): for i < count, copies `length` bytes from
;;   src + indices[i]·length to dst + i·length (indices: count int32 values at byte offset
;;   `indices`, already checked by the caller), likewise 16, 4, then 1 bytes at a time.
(module
  (import "env" "memory" (memory 0))
  (func (export "copyRuns") (param $src i32) (param $srcStride i32) (param $dst i32) (param $dstStride i32) (param $length i32) (param $count i32)
    (local $r i32)
    (local.set $r (i32.const 0))
    (block $done
      (loop $runs
        (br_if $done (i32.ge_u (local.get $r) (local.get $count)))
        (call $copyRun (local.get $src) (local.get $dst) (local.get $length))
        (local.set $src (i32.add (local.get $src) (local.get $srcStride)))
        (local.set $dst (i32.add (local.get $dst) (local.get $dstStride)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $runs))))
  ;; One run of `length` bytes: 16 at a time, then 4, then 1.
  (func $copyRun (param $src i32) (param $dst i32) (param $length i32)
    (local $at i32) (local $end16 i32) (local $end4 i32)
    (local.set $end16 (i32.and (local.get $length) (i32.const -16)))
    (local.set $end4 (i32.and (local.get $length) (i32.const -4)))
    (local.set $at (i32.const 0))
    (block $done16
      (loop $copy16
        (br_if $done16 (i32.ge_u (local.get $at) (local.get $end16)))
        (v128.store align=1 (i32.add (local.get $dst) (local.get $at)) (v128.load align=1 (i32.add (local.get $src) (local.get $at))))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (br $copy16)))
    (block $done4
      (loop $copy4
        (br_if $done4 (i32.ge_u (local.get $at) (local.get $end4)))
        (i32.store align=1 (i32.add (local.get $dst) (local.get $at)) (i32.load align=1 (i32.add (local.get $src) (local.get $at))))
        (local.set $at (i32.add (local.get $at) (i32.const 4)))
        (br $copy4)))
    (block $done1
      (loop $copy1
        (br_if $done1 (i32.ge_u (local.get $at) (local.get $length)))
        (i32.store8 (i32.add (local.get $dst) (local.get $at)) (i32.load8_u (i32.add (local.get $src) (local.get $at))))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $copy1))))
  (func (export "gatherRows") (param $src i32) (param $indices i32) (param $dst i32) (param $count i32) (param $length i32)
    (local $i i32)
    (local.set $i (i32.const 0))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (call $copyRun
          (i32.add (local.get $src) (i32.mul (i32.load (i32.add (local.get $indices) (i32.shl (local.get $i) (i32.const 2)))) (local.get $length)))
          (i32.add (local.get $dst) (i32.mul (local.get $i) (local.get $length)))
          (local.get $length))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))))
