/*
 * _dl_find_object for static musl binaries linked with Debian's libgcc_eh.
 *
 * libgcc_eh.a from Debian's cross compilers (built against glibc >= 2.35)
 * finds a program counter's unwind tables with glibc's _dl_find_object,
 * which musl does not have. In a static binary there is one object, the
 * executable, and dl_iterate_phdr (which musl has) describes it: this
 * returns its mapped range and its PT_GNU_EH_FRAME segment, as glibc does.
 * Compiled with the glibc cross headers, so struct dl_find_object has the
 * layout libgcc_eh was compiled with. scripts/setup.sh adds it to the
 * libunwind.a it builds for the armv7 and riscv64 musl targets.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <string.h>

struct request {
    uintptr_t pc;
    struct dl_find_object *out;
    int found;
};

static int find(struct dl_phdr_info *info, size_t size, void *data)
{
    struct request *req = data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    void *eh_frame = NULL;
    int contains = 0;
    (void)size;
    for (size_t i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD) {
            uintptr_t end = start + ph->p_memsz;
            if (req->pc >= start && req->pc < end)
                contains = 1;
            if (start < lo)
                lo = start;
            if (end > hi)
                hi = end;
        } else if (ph->p_type == PT_GNU_EH_FRAME) {
            eh_frame = (void *)start;
        }
    }
    if (!contains)
        return 0;
    memset(req->out, 0, sizeof *req->out);
    req->out->dlfo_map_start = (void *)lo;
    req->out->dlfo_map_end = (void *)hi;
    req->out->dlfo_eh_frame = eh_frame;
    req->found = 1;
    return 1;
}

int _dl_find_object(void *pc, struct dl_find_object *result)
{
    struct request req = { (uintptr_t)pc, result, 0 };
    dl_iterate_phdr(find, &req);
    return req.found ? 0 : -1;
}
