/* A tiny shared object for tests/unit/test_elf_strip.py. Rebuild (debug info on purpose):
 *   gcc -g -O0 -shared -fPIC -o tests/unit/data/elf-probe.so tests/unit/data/elf-probe.c
 */
static int offset = 40;

int elf_probe_answer(int x) { return x + offset; }
