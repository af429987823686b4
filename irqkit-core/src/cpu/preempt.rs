//! The preempt count: Linux's bit layout and the context predicates derived from it.
//!
//! Layout (include/linux/preempt.h): preemption-disable depth in bits 0–7, softirq
//! count in 8–15, hardirq nesting in 16–19, NMI nesting in 20–23. Serving a softirq
//! adds [`SOFTIRQ_OFFSET`]; `local_bh_disable` adds [`SOFTIRQ_DISABLE_OFFSET`] (twice
//! that), so an odd softirq count means "serving" and an even non-zero one means
//! "bottom halves disabled only".

/// Bits for the preemption-disable depth.
pub const PREEMPT_BITS: u32 = 8;
/// Bits for the softirq count.
pub const SOFTIRQ_BITS: u32 = 8;
/// Bits for hardirq nesting.
pub const HARDIRQ_BITS: u32 = 4;
/// Bits for NMI nesting.
pub const NMI_BITS: u32 = 4;

/// Shift of the preemption field.
pub const PREEMPT_SHIFT: u32 = 0;
/// Shift of the softirq field.
pub const SOFTIRQ_SHIFT: u32 = PREEMPT_SHIFT + PREEMPT_BITS;
/// Shift of the hardirq field.
pub const HARDIRQ_SHIFT: u32 = SOFTIRQ_SHIFT + SOFTIRQ_BITS;
/// Shift of the NMI field.
pub const NMI_SHIFT: u32 = HARDIRQ_SHIFT + HARDIRQ_BITS;

/// Mask of the preemption field (0x000000ff).
pub const PREEMPT_MASK: u32 = ((1 << PREEMPT_BITS) - 1) << PREEMPT_SHIFT;
/// Mask of the softirq field (0x0000ff00).
pub const SOFTIRQ_MASK: u32 = ((1 << SOFTIRQ_BITS) - 1) << SOFTIRQ_SHIFT;
/// Mask of the hardirq field (0x000f0000).
pub const HARDIRQ_MASK: u32 = ((1 << HARDIRQ_BITS) - 1) << HARDIRQ_SHIFT;
/// Mask of the NMI field (0x00f00000).
pub const NMI_MASK: u32 = ((1 << NMI_BITS) - 1) << NMI_SHIFT;

/// One level of preemption disable.
pub const PREEMPT_OFFSET: u32 = 1 << PREEMPT_SHIFT;
/// Added while serving a softirq.
pub const SOFTIRQ_OFFSET: u32 = 1 << SOFTIRQ_SHIFT;
/// Added by `local_bh_disable` (2 × SOFTIRQ_OFFSET, so serving stays distinguishable).
pub const SOFTIRQ_DISABLE_OFFSET: u32 = 2 * SOFTIRQ_OFFSET;
/// Added by `irq_enter`.
pub const HARDIRQ_OFFSET: u32 = 1 << HARDIRQ_SHIFT;
/// Added (with [`HARDIRQ_OFFSET`]) by `nmi_enter`.
pub const NMI_OFFSET: u32 = 1 << NMI_SHIFT;

/// The NMI field's value at which a further `nmi_enter` would overflow (15 nested).
pub const NMI_NESTING_MAX: u32 = NMI_MASK;

/// NMI nesting bits of `pc`.
#[inline]
pub const fn nmi_count(pc: u32) -> u32 {
    pc & NMI_MASK
}
/// Hardirq nesting bits of `pc`.
#[inline]
pub const fn hardirq_count(pc: u32) -> u32 {
    pc & HARDIRQ_MASK
}
/// Softirq bits of `pc` (serving and/or disabled).
#[inline]
pub const fn softirq_count(pc: u32) -> u32 {
    pc & SOFTIRQ_MASK
}
/// NMI, hardirq and softirq bits of `pc`.
#[inline]
pub const fn irq_count(pc: u32) -> u32 {
    pc & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK)
}
/// True in NMI context.
#[inline]
pub const fn in_nmi(pc: u32) -> bool {
    nmi_count(pc) != 0
}
/// True in hardirq (or NMI) context.
#[inline]
pub const fn in_hardirq(pc: u32) -> bool {
    hardirq_count(pc) != 0
}
/// True while serving a softirq (not merely bh-disabled).
#[inline]
pub const fn in_serving_softirq(pc: u32) -> bool {
    softirq_count(pc) & SOFTIRQ_OFFSET != 0
}
/// Linux's deprecated `in_softirq`: serving a softirq *or* bottom halves disabled.
#[inline]
pub const fn in_softirq(pc: u32) -> bool {
    softirq_count(pc) != 0
}
/// Linux's `in_interrupt`: NMI, hardirq, serving softirq or bh disabled.
#[inline]
pub const fn in_interrupt(pc: u32) -> bool {
    irq_count(pc) != 0
}
/// True in task context: not NMI, not hardirq, not serving a softirq.
#[inline]
pub const fn in_task(pc: u32) -> bool {
    pc & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET) == 0
}
/// True if anything disables preemption (the count is non-zero).
#[inline]
pub const fn in_atomic(pc: u32) -> bool {
    pc != 0
}
/// Linux's `interrupt_context_level`: 0 task, 1 serving softirq, 2 hardirq, 3 NMI.
#[inline]
pub const fn interrupt_context_level(pc: u32) -> u32 {
    (nmi_count(pc) != 0) as u32
        + (pc & (NMI_MASK | HARDIRQ_MASK) != 0) as u32
        + (pc & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET) != 0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_include_linux_preempt_h() {
        assert_eq!(PREEMPT_MASK, 0x0000_00ff);
        assert_eq!(SOFTIRQ_MASK, 0x0000_ff00);
        assert_eq!(HARDIRQ_MASK, 0x000f_0000);
        assert_eq!(NMI_MASK, 0x00f0_0000);
        assert_eq!(SOFTIRQ_DISABLE_OFFSET, 0x200);
    }

    #[test]
    fn predicates_in_every_context() {
        let task = 0;
        assert!(in_task(task) && !in_interrupt(task) && interrupt_context_level(task) == 0);
        let bh_off = SOFTIRQ_DISABLE_OFFSET;
        assert!(in_task(bh_off) && in_softirq(bh_off) && !in_serving_softirq(bh_off));
        assert!(in_interrupt(bh_off));
        let serving = SOFTIRQ_OFFSET;
        assert!(!in_task(serving) && in_serving_softirq(serving));
        assert_eq!(interrupt_context_level(serving), 1);
        let hard = HARDIRQ_OFFSET;
        assert!(in_hardirq(hard) && !in_nmi(hard) && !in_task(hard));
        assert_eq!(interrupt_context_level(hard), 2);
        let nmi = NMI_OFFSET + HARDIRQ_OFFSET;
        assert!(in_nmi(nmi) && in_hardirq(nmi) && interrupt_context_level(nmi) == 3);
        // hardirq nested in a softirq that interrupted a bh-disabled section.
        let nested = SOFTIRQ_DISABLE_OFFSET + SOFTIRQ_OFFSET + HARDIRQ_OFFSET;
        assert!(in_hardirq(nested) && in_serving_softirq(nested) && !in_task(nested));
        assert_eq!(softirq_count(nested), 0x300);
    }
}
