/*
 * probe.asm: the boot sector the qemu runtime boots to decide whether KVM
 * can run this host's guests (accel.go). GNU as syntax; not named .S,
 * which the go tool would take for cgo assembly. A /dev/kvm that opens, and even
 * a guest that prints in real mode, is not enough: on some nested hosts
 * KVM emulates parts of a guest's mode switches and fails on the first
 * protected-mode IRET ("KVM internal error. Suberror: 1 ... emulation
 * failure"), which is where syslinux and other boot loaders die. So the
 * probe walks the road a boot loader and a kernel take, printing where it
 * is on COM1: a BIOS call in real mode ("16"), 32-bit protected mode
 * ("32"), timer interrupts taken and returned from in protected mode
 * ("irq"), a thunk back to real mode for another BIOS call ("16"), then
 * paging and 64-bit long mode ("64"), and last the marker
 * "openami-kvm-probe-ok".
 *
 * Build (probe.bin is committed; TestProbeSource checks it matches):
 *   as --32 -o probe.o probe.asm
 *   ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o probe.bin probe.o
 */
	.code16
	.text
	.globl _start
_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$0x7c00, %sp
	ljmp	$0, $real1
real1:
	movw	$msg_real, %si
	call	puts16
	sti
	int	$0x12			/* BIOS: conventional memory size */
	cli
	inb	$0x92, %al		/* fast A20 */
	orb	$2, %al
	andb	$0xfe, %al
	outb	%al, $0x92
	lgdtl	gdtr
	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	ljmpl	$0x08, $prot32

	.code32
prot32:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	xorw	%ax, %ax
	movw	%ax, %fs
	movw	%ax, %gs
	movl	$msg_prot, %esi
	call	puts32
	/* Take timer interrupts in protected mode, as a boot loader does
	 * while it waits on the disk: IRQ 0 is vector 8 as the BIOS left
	 * the PIC. Every vector's gate points at irq32. */
	movl	$0x4000, %edi
	movl	$64, %ecx
3:	movl	$irq32, %eax
	movw	%ax, (%edi)
	movw	$0x08, 2(%edi)
	movw	$0x8e00, 4(%edi)
	shrl	$16, %eax
	movw	%ax, 6(%edi)
	addl	$8, %edi
	loop	3b
	lidtl	idtr32
	movl	$0, ticks
	sti
4:	cmpl	$3, ticks
	jb	4b
	cli
	movl	$msg_irq, %esi
	call	puts32
	ljmp	$0x18, $prot16		/* back to real mode, through 16-bit protected mode */

	.code16
prot16:
	movw	$0x20, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movl	%cr0, %eax
	andl	$0xfffffffe, %eax
	movl	%eax, %cr0
	ljmp	$0, $real2
real2:
	xorw	%ax, %ax
	lidtl	%cs:idtr16
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	sti
	int	$0x12			/* a BIOS call after the thunk */
	cli
	movw	$msg_thunk, %si
	call	puts16

	/* Identity-map the first 2 MiB: PML4 at 0x1000, PDPT at 0x2000, PD at 0x3000. */
	movw	$0x1000, %di
	xorl	%eax, %eax
	movw	$0x0c00, %cx		/* 3 pages of dwords */
	cld
	rep stosl
	movl	$0x2003, 0x1000
	movl	$0x3003, 0x2000
	movl	$0x0083, 0x3000		/* present, writable, 2 MiB page */
	movl	%cr4, %eax
	orl	$0x20, %eax		/* PAE */
	movl	%eax, %cr4
	movl	$0x1000, %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx	/* EFER */
	rdmsr
	orl	$0x100, %eax		/* LME */
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax	/* PG | PE */
	movl	%eax, %cr0
	ljmpl	$0x28, $long64

	.code64
long64:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movl	$msg_long, %esi
	movw	$0x3f8, %dx
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	hlt
	jmp	2b

	.code16
puts16:
	movw	$0x3f8, %dx
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	ret

	.code32
irq32:
	pushl	%eax
	incl	ticks
	movb	$0x20, %al
	outb	%al, $0x20
	popl	%eax
	iret

puts32:
	movw	$0x3f8, %dx
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	ret

	.p2align 3
gdt:
	.quad	0			/* 0x00 null */
	.quad	0x00cf9a000000ffff	/* 0x08 32-bit code */
	.quad	0x00cf92000000ffff	/* 0x10 data */
	.quad	0x00009a000000ffff	/* 0x18 16-bit code */
	.quad	0x000092000000ffff	/* 0x20 16-bit data */
	.quad	0x00af9a000000ffff	/* 0x28 64-bit code */
gdtr:
	.word	gdtr - gdt - 1
	.long	gdt
idtr32:
	.word	64 * 8 - 1
	.long	0x4000
idtr16:
	.word	0x3ff
	.long	0
ticks:	.long	0

msg_real:	.asciz "16 "
msg_prot:	.asciz "32 "
msg_irq:	.asciz "irq "
msg_thunk:	.asciz "16 "
msg_long:	.asciz "64\r\nopenami-kvm-probe-ok\r\n"

	.org	510
	.word	0xaa55
