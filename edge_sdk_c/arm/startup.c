/* Minimal Cortex-M start-up for the QEMU MPS2 boards, with ARM semihosting output. */
#include <stdint.h>
#include <string.h>

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
int main(void);

int edc_semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void edc_puts(const char *s) { edc_semihost(0x04, s); }            /* SYS_WRITE0 */

void edc_exit(int code) {
    edc_semihost(0x18, (const void *)(code ? 0x20024 : 0x20026));   /* SYS_EXIT */
    for (;;) {}
}

void Reset_Handler(void) {
    memcpy(&_sdata, &_sidata, (size_t)((char *)&_edata - (char *)&_sdata));
    memset(&_sbss, 0, (size_t)((char *)&_ebss - (char *)&_sbss));
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;                  /* CPACR: CP10, CP11 */
    __asm__ volatile("dsb\n isb");
#endif
    edc_exit(main());
}

static void Fault_Handler(void) {
    edc_puts("fault\n");
    edc_exit(1);
}

__attribute__((section(".isr_vector"), used))
static const void *const vectors[16] = {
    &_estack, (const void *)Reset_Handler, (const void *)Fault_Handler,
    (const void *)Fault_Handler, (const void *)Fault_Handler, (const void *)Fault_Handler,
    (const void *)Fault_Handler, 0, 0, 0, 0, (const void *)Fault_Handler,
    (const void *)Fault_Handler, 0, (const void *)Fault_Handler, (const void *)Fault_Handler};
