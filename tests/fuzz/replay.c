/* A fuzz target without libFuzzer: replays inputs through its
 * LLVMFuzzerTestOneInput, so that the regression inputs and the seed corpora
 * run in `make unit` (plain gcc), `make check` (ASan/UBSan) and under
 * valgrind. build/tests/fuzz/replay_<name> with no arguments replays
 * tests/fuzz/regressions/<name>/ and tests/fuzz/corpus/<name>/ (under
 * $FDM_SRC, else the current directory); with arguments, the files given.
 * A crash, an abort or a sanitizer report is the failure. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL, *exact;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	do {
		if (len == cap) {
			uint8_t *p = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (p == NULL) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = p;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	/* A copy of exactly the input's size: an overread is the sanitizer's to see. */
	exact = malloc(len ? len : 1);
	if (exact == NULL) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Every regular file of dir, in name order; a missing dir has none. */
static int replay_dir(const char *dir, unsigned *count)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name), rc = 0;

	for (int i = 0; i < n; i++) {
		char path[4096 + 256];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			rc = replay_file(path);
			(*count)++;
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return rc;
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	const char *src = getenv("FDM_SRC") ? getenv("FDM_SRC") : ".";
	const char *const kinds[] = { "regressions", "corpus" };
	unsigned count = 0;
	char dir[4096];

	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			if (replay_file(argv[i]) < 0)
				return 1;
		printf("%s: %d inputs replayed\n", base, argc - 1);
		return 0;
	}
	if (strncmp(base, "replay_", 7) != 0) {
		fprintf(stderr, "%s: give input files, or run it as replay_<target>\n", base);
		return 2;
	}
	for (size_t k = 0; k < 2; k++) {
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/%s/%s", src, kinds[k], base + 7);
		if (replay_dir(dir, &count) < 0)
			return 1;
	}
	printf("%s: %u inputs replayed\n", base, count);
	return count > 0 ? 0 : 1;
}
