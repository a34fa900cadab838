//! Hot-path helpers below the level of data structures: a cache prefetch
//! and an inlined equality for short strings.

/// Starts loading the cache line that holds `value`, without waiting.
///
/// A prefetch is a hint: it never faults, reads nothing into the program and
/// changes no state the program can observe except timing, so it is sound for
/// any address, let alone a valid reference.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` only hints the cache; `sse` is part of the
    // x86_64 baseline, and the pointer comes from a live reference.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Equality of two short byte strings (ids, service and action names),
/// inlined: for keys of a few dozen bytes the call to libc's `memcmp` that
/// `==` makes costs more than the comparison itself.
#[inline(always)]
pub(crate) fn short_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word(a, i) != word(b, i) {
                return false;
            }
            i += 8;
        }
        // The last word overlaps the previous one rather than reading past
        // the end.
        word(a, n - 8) == word(b, n - 8)
    } else if n >= 4 {
        half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

#[inline(always)]
fn word(s: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&s[at..at + 8]);
    u64::from_ne_bytes(w)
}

#[inline(always)]
fn half(s: &[u8], at: usize) -> u32 {
    let mut w = [0; 4];
    w.copy_from_slice(&s[at..at + 4]);
    u32::from_ne_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::short_eq;

    #[test]
    fn short_eq_agrees_with_eq_for_every_length_and_difference_position() {
        let base: String = (0..40).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        for n in 0..=base.len() {
            let a = &base[..n];
            assert!(short_eq(a, a), "{a:?}");
            for at in 0..n {
                let mut changed = a.as_bytes().to_vec();
                changed[at] = b'#';
                let changed = String::from_utf8(changed).unwrap();
                assert!(!short_eq(a, &changed), "{a:?} vs {changed:?}");
            }
            if n > 0 {
                assert!(!short_eq(a, &base[..n - 1]));
            }
        }
    }
}
