/*
 * mbrstub.S: the test image's master boot record (LBA 0).
 *
 * It prints "openami-testimage: booting" straight to COM1 (port 0x3f8, no
 * BIOS serial support needed), then loads LBA 1, which holds syslinux's
 * own mbr.bin with the same partition table, to 0x7c00 and jumps to it
 * with the boot drive still in DL. syslinux cannot print this line itself:
 * its SAY and DISPLAY output never reaches the serial port.
 *
 * build.sh carries the assembled bytes as hex; to regenerate them:
 *   as --32 -o mbrstub.o mbrstub.S &&
 *   ld -m elf_i386 -Ttext=0x500 --oformat=binary -o mbrstub.bin mbrstub.o &&
 *   od -An -v -tx1 mbrstub.bin | tr -d ' \n'
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
	sti
	cld
	pushw	%dx			/* DL: the boot drive, for the BIOS and mbr.bin */
	/* Move out of the way of the sector we are about to load. */
	movw	$0x7c00, %si
	movw	$0x0500, %di
	movw	$0x100, %cx
	rep movsw
	ljmp	$0, $relocated
relocated:
	movw	$msg, %si
1:	lodsb
	testb	%al, %al
	jz	3f
	movb	%al, %bl
	movw	$0x3fd, %dx		/* line status: wait for an empty holding register */
	movw	$0xffff, %cx
2:	inb	%dx, %al
	testb	$0x20, %al
	loopz	2b
	movw	$0x3f8, %dx
	movb	%bl, %al
	outb	%al, %dx
	jmp	1b
3:	/* LBA 1 -> 0x0000:0x7c00: EDD read first, CHS (sector 2) if that fails. */
	popw	%dx
	pushw	%dx
	movw	$dap, %si
	movb	$0x42, %ah
	int	$0x13
	jnc	4f
	movw	$0x0201, %ax
	movw	$0x7c00, %bx
	movw	$0x0002, %cx
	popw	%dx
	pushw	%dx
	xorb	%dh, %dh
	int	$0x13
	jc	5f
4:	popw	%dx
	ljmp	$0, $0x7c00
5:	hlt
	jmp	5b

dap:	.byte	0x10, 0
	.word	1, 0x7c00, 0
	.quad	1
msg:	.ascii	"\r\nopenami-testimage: booting\r\n\0"
