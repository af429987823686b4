//! The x86 PCI-MSI domain layer: a vector from the [`VectorMatrix`] per MSI, the
//! message composed for the chosen CPU (x86_vector_msi_compose_msg), the per-CPU
//! vector table entry installed, and everything undone on free.

use alloc::vec::Vec;

use irqkit_core::IrqError;

use super::matrix::VectorMatrix;
use super::msi::MsiMessage;
use super::vector::VectorTable;

/// The chip column for PCI MSI-X vectors of device `bdf` ("PCI-MSIX-0000:00:05.0").
pub fn pci_msix_chip_name(bdf: &str) -> alloc::string::String {
    alloc::format!("PCI-MSIX-{bdf}")
}

/// The chip column for PCI MSI vectors of device `bdf` ("PCI-MSI-0000:00:05.0").
pub fn pci_msi_chip_name(bdf: &str) -> alloc::string::String {
    alloc::format!("PCI-MSI-{bdf}")
}

/// One allocated MSI: where it lands and what the device writes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MsiVector {
    /// Interrupt number it dispatches to.
    pub irq: u32,
    /// Target CPU (= APIC ID).
    pub cpu: u32,
    /// Vector on that CPU.
    pub vector: u8,
    /// The message to program into the device's MSI capability or MSI-X table.
    pub msg: MsiMessage,
}

/// Allocates `nvec` MSIs for interrupts `first_irq..` on CPUs in `mask`, installing
/// them in `tables` (one per CPU). On failure nothing stays allocated.
pub fn msi_alloc(
    matrix: &VectorMatrix,
    tables: &mut [VectorTable],
    mask: u64,
    first_irq: u32,
    nvec: u32,
) -> Result<Vec<MsiVector>, IrqError> {
    let mut out: Vec<MsiVector> = Vec::new();
    for i in 0..nvec {
        let r = matrix.alloc(mask, false).and_then(|(cpu, vector)| {
            let msg = MsiMessage::compose(cpu, vector, false);
            let table = tables.get_mut(cpu as usize).ok_or(IrqError::CpuOffline(cpu));
            match (msg, table) {
                (Ok(msg), Ok(t)) => {
                    t.set(vector, first_irq + i);
                    Ok(MsiVector { irq: first_irq + i, cpu, vector, msg })
                }
                (Err(e), _) | (_, Err(e)) => {
                    let _ = matrix.free(cpu, vector, false);
                    Err(e)
                }
            }
        });
        match r {
            Ok(v) => out.push(v),
            Err(e) => {
                msi_free(matrix, tables, &out);
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// Frees MSIs from [`msi_alloc`]: vector-table slots shut down, vectors returned.
pub fn msi_free(matrix: &VectorMatrix, tables: &mut [VectorTable], v: &[MsiVector]) {
    for m in v {
        if let Some(t) = tables.get_mut(m.cpu as usize) {
            t.clear(m.vector);
        }
        let _ = matrix.free(m.cpu, m.vector, false);
    }
}
