//! The byte ciphers PESpin and yoda's Crypter generate per file: a few x86 instructions on `al`
//! (the byte) and `cl` (the low byte of the loop's count of bytes left) mixed with do-nothing
//! ones, run on each byte of a buffer by a `lodsb; ...; stosb; loop` loop. Each packer's module
//! reads its own generator's forms (their junk and jumps differ); the instructions both use,
//! and running them, are here.

/// One instruction of a byte cipher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `add al, cl`
    AddCl,
    /// `sub al, cl`
    SubCl,
    /// `xor al, cl`
    XorCl,
    /// `add al, imm8`
    Add(u8),
    /// `sub al, imm8`
    Sub(u8),
    /// `xor al, imm8`
    Xor(u8),
    /// `inc al`
    Inc,
    /// `dec al`
    Dec,
    /// `rol al, imm8`
    Rol(u8),
    /// `ror al, imm8`
    Ror(u8),
    /// `rol al, cl`
    RolCl,
    /// `ror al, cl`
    RorCl,
}

/// The instruction at the start of `code`, when it is one both generators emit (the rotations
/// by `cl` are yoda's Crypter's alone): what it does (None for `nop`, `clc` and `stc`) and its
/// length. None for any other instruction, or one cut short.
pub fn decode(code: &[u8]) -> Option<(Option<Op>, usize)> {
    let imm = || code.get(2).copied();
    Some(match (*code.first()?, code.get(1).copied()) {
        (0x90 | 0xf8 | 0xf9, _) => (None, 1),
        (0x02, Some(0xc1)) => (Some(Op::AddCl), 2),
        (0x2a, Some(0xc1)) => (Some(Op::SubCl), 2),
        (0x32, Some(0xc1)) => (Some(Op::XorCl), 2),
        (0x04, Some(v)) => (Some(Op::Add(v)), 2),
        (0x2c, Some(v)) => (Some(Op::Sub(v)), 2),
        (0x34, Some(v)) => (Some(Op::Xor(v)), 2),
        (0xfe, Some(0xc0)) => (Some(Op::Inc), 2),
        (0xfe, Some(0xc8)) => (Some(Op::Dec), 2),
        (0xc0, Some(0xc0)) => (Some(Op::Rol(imm()?)), 3),
        (0xc0, Some(0xc8)) => (Some(Op::Ror(imm()?)), 3),
        _ => return None,
    })
}

/// Runs `ops` on each byte of `data`, the first bytes of a run of `count` bytes (the loop's
/// initial `ecx`: `cl` is its low byte less the bytes done).
pub fn run(ops: &[Op], data: &mut [u8], count: u32) {
    for (i, byte) in data.iter_mut().enumerate() {
        let cl = count.wrapping_sub(i as u32) as u8;
        let mut al = *byte;
        for op in ops {
            al = match *op {
                Op::AddCl => al.wrapping_add(cl),
                Op::SubCl => al.wrapping_sub(cl),
                Op::XorCl => al ^ cl,
                Op::Add(n) => al.wrapping_add(n),
                Op::Sub(n) => al.wrapping_sub(n),
                Op::Xor(n) => al ^ n,
                Op::Inc => al.wrapping_add(1),
                Op::Dec => al.wrapping_sub(1),
                // An 8-bit rotate by n turns by n mod 8 (x86 masks the count to 5 bits first).
                Op::Rol(n) => al.rotate_left(u32::from(n & 7)),
                Op::Ror(n) => al.rotate_right(u32::from(n & 7)),
                Op::RolCl => al.rotate_left(u32::from(cl & 7)),
                Op::RorCl => al.rotate_right(u32::from(cl & 7)),
            };
        }
        *byte = al;
    }
}
