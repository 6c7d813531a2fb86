/* Multiboot2 header: GRUB2 finds it in the first 32 KiB of the image. */
#define MB2_MAGIC 0xe85250d6
#define MB2_ARCH_I386 0

    .section .multiboot2, "a"
    .balign 8
mb2_header_start:
    .long MB2_MAGIC
    .long MB2_ARCH_I386
    .long mb2_header_end - mb2_header_start
    .long -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header_start))

    /* Module alignment tag: modules start on page boundaries. */
    .balign 8
    .short 6, 0
    .long 8

    /* End tag. */
    .balign 8
    .short 0, 0
    .long 8
mb2_header_end:
