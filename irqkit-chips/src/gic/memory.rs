//! Model memory: the sparse "machine memory" the GICv3 model reads its LPI property and
//! pending tables and the ITS command queue from, and a driver writes them into.
//!
//! Pages are allocated on first write; unwritten memory reads as zero. Addresses are
//! masked to 52 bits, the widest physical address the GICv3 registers can hold.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;

use irqkit_core::sync::SpinLock;

const PAGE: u64 = 4096;
const PA_MASK: u64 = (1 << 52) - 1;

/// Sparse byte-addressed memory shared between a GICv3 model and its driver.
#[derive(Default)]
pub struct ModelMemory {
    pages: SpinLock<BTreeMap<u64, Box<[u8; PAGE as usize]>>>,
}

impl ModelMemory {
    /// Empty memory (all zero).
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies memory at `addr` into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) {
        let pages = self.pages.lock();
        let mut done = 0;
        while done < buf.len() {
            let a = (addr + done as u64) & PA_MASK;
            let (pn, po) = (a / PAGE, (a % PAGE) as usize);
            let n = (PAGE as usize - po).min(buf.len() - done);
            match pages.get(&pn) {
                Some(p) => buf[done..done + n].copy_from_slice(&p[po..po + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
    }

    /// Copies `data` into memory at `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) {
        let mut pages = self.pages.lock();
        let mut done = 0;
        while done < data.len() {
            let a = (addr + done as u64) & PA_MASK;
            let (pn, po) = (a / PAGE, (a % PAGE) as usize);
            let n = (PAGE as usize - po).min(data.len() - done);
            let p = pages.entry(pn).or_insert_with(|| Box::new([0; PAGE as usize]));
            p[po..po + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
    }

    /// Reads one byte.
    pub fn read_u8(&self, addr: u64) -> u8 {
        let mut b = [0u8; 1];
        self.read(addr, &mut b);
        b[0]
    }

    /// Writes one byte.
    pub fn write_u8(&self, addr: u64, v: u8) {
        self.write(addr, &[v]);
    }

    /// Reads a little-endian 64-bit value.
    pub fn read_u64(&self, addr: u64) -> u64 {
        let mut b = [0u8; 8];
        self.read(addr, &mut b);
        u64::from_le_bytes(b)
    }

    /// Writes a little-endian 64-bit value.
    pub fn write_u64(&self, addr: u64, v: u64) {
        self.write(addr, &v.to_le_bytes());
    }
}
