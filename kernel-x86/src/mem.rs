//! `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp` and unwinding stubs.
//!
//! The host target's precompiled `compiler_builtins` leaves the mem functions to libc,
//! which a freestanding image does not have. They are written with `rep movsb`/
//! `rep stosb` and byte loops over volatile reads so LLVM cannot recognise the loops
//! and turn them back into calls to themselves.

use core::arch::asm;

/// `memcpy` for the compiler and the precompiled `core`/`alloc`.
///
/// # Safety
/// `dst` and `src` must be valid for `n` bytes and not overlap.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges are valid; `rep movsb` copies forward
    // with DF=0, which the SysV ABI guarantees on function entry.
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _,
             options(nostack, preserves_flags));
    }
    dst
}

/// `memmove`: like `memcpy` but the ranges may overlap.
///
/// # Safety
/// `dst` and `src` must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: a forward copy is correct when dst is below src or the ranges are apart.
        return unsafe { memcpy(dst, src, n) };
    }
    // SAFETY: copy backwards (DF=1) from the last byte; DF is cleared again afterwards
    // as the ABI requires.
    unsafe {
        asm!("std", "rep movsb", "cld",
             inout("rcx") n => _, inout("rdi") dst.add(n - 1) => _,
             inout("rsi") src.add(n - 1) => _, options(nostack));
    }
    dst
}

/// `memset`.
///
/// # Safety
/// `dst` must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees the range; `rep stosb` stores `al` forward.
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") c as u8,
             options(nostack, preserves_flags));
    }
    dst
}

/// `memcmp`.
///
/// # Safety
/// Both ranges must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: i < n and both ranges are valid for n bytes; volatile keeps LLVM from
        // recognising this loop as memcmp.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

/// `bcmp`: zero iff equal.
///
/// # Safety
/// Both ranges must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// Referenced by the precompiled `alloc`; unreachable with `panic = "abort"`.
#[no_mangle]
pub extern "C" fn _Unwind_Resume() -> ! {
    crate::arch::halt_forever()
}

/// Referenced by the precompiled `core`; never called with `panic = "abort"`.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}
