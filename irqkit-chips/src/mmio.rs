//! `Mmio`: how a driver reaches controller registers — real MMIO or a model.

/// Register access for a controller driver. Real hardware implements it with volatile
/// loads and stores; the models implement it directly on their state.
pub trait Mmio {
    /// Reads a 32-bit register at byte `offset`.
    fn read32(&self, offset: usize) -> u32;
    /// Writes a 32-bit register at byte `offset`.
    fn write32(&self, offset: usize, value: u32);
}
