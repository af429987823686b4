//! Just enough ACPI to find the CPUs: RSDP → RSDT/XSDT → MADT local-APIC entries.

use alloc::vec::Vec;

fn rd8(a: usize) -> u8 {
    // SAFETY: callers pass addresses inside the BIOS area or inside ACPI tables whose
    // length they checked; all of it lies in the identity-mapped first 4 GiB.
    unsafe { (a as *const u8).read_volatile() }
}

fn rd32(a: usize) -> u32 {
    u32::from_le_bytes([rd8(a), rd8(a + 1), rd8(a + 2), rd8(a + 3)])
}

fn rd64(a: usize) -> u64 {
    rd32(a) as u64 | (rd32(a + 4) as u64) << 32
}

fn checksum_ok(a: usize, len: usize) -> bool {
    (0..len).fold(0u8, |s, i| s.wrapping_add(rd8(a + i))) == 0
}

fn sig_is(a: usize, sig: &[u8]) -> bool {
    sig.iter().enumerate().all(|(i, &b)| rd8(a + i) == b)
}

fn find_rsdp() -> Option<usize> {
    let ebda = (u16::from_le_bytes([rd8(0x40E), rd8(0x40F)]) as usize) << 4;
    let ranges = [(ebda, ebda + 1024), (0xE0000, 0x100000)];
    for (lo, hi) in ranges {
        if lo == 0 {
            continue;
        }
        let mut a = lo;
        while a + 20 <= hi {
            if sig_is(a, b"RSD PTR ") && checksum_ok(a, 20) {
                return Some(a);
            }
            a += 16;
        }
    }
    None
}

/// The APIC ids of the enabled processors, bootstrap CPU included, in MADT order.
/// Empty if no usable MADT exists.
pub fn cpu_apic_ids() -> Vec<u32> {
    let mut ids = Vec::new();
    let Some(rsdp) = find_rsdp() else { return ids };
    let (root, entry_size) = if rd8(rsdp + 15) >= 2 && rd64(rsdp + 24) != 0 {
        (rd64(rsdp + 24) as usize, 8)
    } else {
        (rd32(rsdp + 16) as usize, 4)
    };
    let root_len = rd32(root + 4) as usize;
    if !checksum_ok(root, root_len) {
        return ids;
    }
    let mut e = root + 36;
    while e + entry_size <= root + root_len {
        let table = if entry_size == 8 { rd64(e) as usize } else { rd32(e) as usize };
        e += entry_size;
        if !sig_is(table, b"APIC") {
            continue;
        }
        let len = rd32(table + 4) as usize;
        let mut p = table + 44;
        while p + 2 <= table + len {
            let (kind, elen) = (rd8(p), rd8(p + 1) as usize);
            if elen < 2 {
                break;
            }
            // Type 0: processor local APIC; flags bit 0 = enabled.
            if kind == 0 && elen >= 8 && rd32(p + 4) & 1 != 0 {
                ids.push(rd8(p + 3) as u32);
            }
            p += elen;
        }
    }
    ids
}
