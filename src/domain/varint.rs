//! LEB128 varints: how the rollups' digests (`rollup`) and duration
//! sketches (`sketch`) store numbers, seven bits a byte, low bits first.

pub fn put(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The number at the start of `input`, which moves past it; `None` when
/// the bytes end first or hold more than 64 bits.
pub fn take(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        if shift == 63 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_too_many_bits_are_refused() {
        let values = [0, 1, 127, 128, 16_383, 16_384, u64::from(u32::MAX), u64::MAX - 1, u64::MAX];
        let mut bytes = Vec::new();
        values.iter().for_each(|v| put(&mut bytes, *v));
        let mut input = &bytes[..];
        let back: Vec<u64> = values.iter().map(|_| take(&mut input).unwrap()).collect();
        assert_eq!((back.as_slice(), input.len()), (&values[..], 0));
        assert_eq!(take(&mut &[0x80][..]), None, "ends first");
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(take(&mut &over[..]), None, "65 bits");
        assert_eq!(take(&mut &[0xff; 11][..]), None);
    }
}
