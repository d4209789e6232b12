//! EV expansion: how an EV profile's fields become the 32 value bytes of `struct mrc_ctl_ev`
//! (`docs/capi.md` §EV expansion).
//!
//! Per field (the header's steps): start from `init_val` (zero-filled to the field width);
//! for each set bit of `mask`, from the most significant down, take the next most significant
//! bit of the field's EV bits and put it there. The expanded field is then placed
//! right-aligned in its EV Format field (a wider format field is zero-filled on the left), and
//! the format fields are concatenated most significant first from bit 7 of `val[0]`: byte
//! order is network order, so an SRv6 profile's first 16 bytes are the IPv6 address, and a
//! STEV profile's first format field is `val[0]` (the low byte of the `uint32_t` the API
//! examples `memcpy` out on a little-endian host).
//!
//! Generated EVs enumerate every combination of field values `min_val..=max_val` (fields
//! without mask bits are fixed at `init_val`), the last field varying fastest: with full-range
//! fields, EV number i carries the bits of i.

use crate::types::{MRC_CTL_EV_MAX_BYTES, MrcCtlEv, MrcCtlEvField};

/// Why a set of fields is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldError {
    /// Invalid (EINVAL): a value wider than its field, mask bits outside the field, min > max.
    Invalid,
    /// Unsupportable (E2BIG): more fields or bits than the format allows.
    TooBig,
}

/// Checks EV Format fields: 1–64 bits each, at most `max_width` bits in all.
pub fn check_format(widths: &[u8], max_width: u32) -> Result<(), FieldError> {
    if widths.is_empty() || widths.iter().any(|&w| w == 0 || w > 64) {
        return Err(FieldError::Invalid);
    }
    let total: u32 = widths.iter().map(|&w| u32::from(w)).sum();
    if total > max_width || total > (MRC_CTL_EV_MAX_BYTES * 8) as u32 {
        return Err(FieldError::TooBig);
    }
    Ok(())
}

fn fits(v: u32, bits: u32) -> bool {
    bits >= 32 || v >> bits == 0
}

/// Checks EV profile fields against their format's widths (the header's restrictions).
pub fn check_fields(fields: &[MrcCtlEvField], fmt: &[u8]) -> Result<(), FieldError> {
    if fields.is_empty() {
        return Err(FieldError::Invalid);
    }
    if fields.len() > fmt.len() {
        return Err(FieldError::TooBig);
    }
    for (f, &fw) in fields.iter().zip(fmt) {
        if f.width == 0 || f.width > 32 {
            return Err(FieldError::Invalid);
        }
        if f.width > u32::from(fw) {
            return Err(FieldError::TooBig);
        }
        let gen_bits = f.mask.count_ones();
        if !fits(f.init_val, f.width)
            || !fits(f.mask, f.width)
            || !fits(f.max_val, gen_bits)
            || f.min_val > f.max_val
        {
            return Err(FieldError::Invalid);
        }
    }
    Ok(())
}

/// Field value: `init_val` with the mask bits (most significant first) replaced by the
/// `popcount(mask)` bits of `v` (most significant first).
pub fn expand_field(f: &MrcCtlEvField, v: u32) -> u32 {
    let n = f.mask.count_ones();
    let mut out = f.init_val & !f.mask;
    let mut k = n;
    for bit in (0..32).rev() {
        if f.mask & (1 << bit) != 0 {
            k -= 1;
            if (v >> k) & 1 != 0 {
                out |= 1 << bit;
            }
        }
    }
    out
}

/// Writes `value` (`width` bits) at bit offset `pos` (0 = most significant bit of `val[0]`).
fn put_bits(val: &mut [u8; MRC_CTL_EV_MAX_BYTES], pos: u32, width: u32, value: u64) {
    for i in 0..width {
        let bit = (value >> (width - 1 - i)) & 1;
        let p = (pos + i) as usize;
        if let Some(b) = val.get_mut(p / 8)
            && bit != 0
        {
            *b |= 0x80 >> (p % 8);
        }
    }
}

/// The EV value of field values `vals` (one per field, generated bits only).
pub fn expand(fields: &[MrcCtlEvField], fmt: &[u8], vals: &[u32]) -> [u8; MRC_CTL_EV_MAX_BYTES] {
    let mut out = [0u8; MRC_CTL_EV_MAX_BYTES];
    let mut pos = 0u32;
    for (i, &fw) in fmt.iter().enumerate() {
        let fw = u32::from(fw);
        if let (Some(f), Some(&v)) = (fields.get(i), vals.get(i)) {
            put_bits(&mut out, pos, fw, u64::from(expand_field(f, v)));
        }
        pos += fw;
    }
    out
}

/// Number of generated combinations (saturating).
pub fn combinations(fields: &[MrcCtlEvField]) -> u64 {
    fields.iter().fold(1u64, |acc, f| {
        let n = if f.mask == 0 {
            1
        } else {
            u64::from(f.max_val - f.min_val) + 1
        };
        acc.saturating_mul(n)
    })
}

/// Generated EV number `index` (last field varying fastest), on `port`.
pub fn generated(fields: &[MrcCtlEvField], fmt: &[u8], index: u64, port: u8) -> MrcCtlEv {
    let mut vals = vec![0u32; fields.len()];
    let mut rest = index;
    for (i, f) in fields.iter().enumerate().rev() {
        if f.mask == 0 {
            continue;
        }
        let n = u64::from(f.max_val - f.min_val) + 1;
        if let Some(v) = vals.get_mut(i) {
            *v = f.min_val + (rest % n) as u32;
        }
        rest /= n;
    }
    MrcCtlEv {
        val: expand(fields, fmt, &vals),
        port,
    }
}

/// The first `count` generated EVs (at most [`combinations`]).
pub fn generate(fields: &[MrcCtlEvField], fmt: &[u8], count: u32, port: u8) -> Vec<MrcCtlEv> {
    let n = combinations(fields).min(u64::from(count));
    (0..n).map(|i| generated(fields, fmt, i, port)).collect()
}
