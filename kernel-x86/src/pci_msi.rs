//! PCI devices' MSI capability programming (filled in by the PCI code).

use irqkit_chips::x86::msi::MsiMessage;

/// `pci_write_msi_msg` for the device behind `virq`; no MSI device is registered yet.
pub fn write_msg(_virq: u32, _msg: &MsiMessage) {}
