/*
 * apkinfo: what `pm install` needs to know about an APK.
 *   apkinfo manifest [FILE|-]  parses a binary AndroidManifest.xml (AXML; from `unzip -p x.apk
 *                              AndroidManifest.xml`) and prints package=, versionCode=, versionName= lines.
 *                              Exit 1 if it is not a well-formed binary manifest with a <manifest package>.
 *   apkinfo signed APK         exit 0 if the APK carries an APK Signing Block (v2+) or v1 JAR signature
 *                              files, 1 if unsigned, 2 if it is not a zip file.
 * AXML: a chunk stream (u16 type, u16 header size, u32 size): a string pool, a resource-id map for
 * attribute names, then XML nodes; attributes are (ns, name, raw string, typed value) records.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "toolbox.h"

#define RES_STRING_POOL 0x0001
#define RES_XML 0x0003
#define RES_XML_START_ELEMENT 0x0102
#define RES_XML_RESOURCE_MAP 0x0180
#define UTF8_FLAG 0x100
#define TYPE_STRING 0x03
#define TYPE_INT_DEC 0x10
#define TYPE_INT_HEX 0x11
#define ATTR_VERSION_CODE 0x0101021bu
#define ATTR_VERSION_NAME 0x0101021cu
#define NO_INDEX 0xffffffffu
#define MAX_INPUT (8u * 1024u * 1024u)

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

typedef struct {
  const uint8_t *pool; /* string pool chunk */
  size_t pool_size;
  uint32_t count;
  bool utf8;
  const uint32_t *ids_raw; /* resource map (little-endian u32s) */
  const uint8_t *ids;
  uint32_t id_count;
} axml_t;

/* Returns string `idx` of the pool as UTF-8 in `out`; false if out of bounds or malformed. */
static bool pool_string(const axml_t *a, uint32_t idx, char *out, size_t cap) {
  if (!a->pool || idx >= a->count) return false;
  uint16_t hsize = u16(a->pool + 2);
  uint32_t strings_start = u32(a->pool + 20);
  size_t off_pos = (size_t)hsize + (size_t)idx * 4;
  if (off_pos + 4 > a->pool_size) return false;
  size_t pos = (size_t)strings_start + u32(a->pool + off_pos);
  const uint8_t *p = a->pool + pos, *end = a->pool + a->pool_size;
  if (pos >= a->pool_size) return false;
  size_t o = 0;
  if (a->utf8) {
    /* u16-length (1 or 2 bytes), then the UTF-8 byte length (1 or 2 bytes), then the bytes. */
    p += (*p & 0x80) ? 2 : 1;
    if (p + 2 > end) return false;
    size_t n = *p & 0x80 ? (((size_t)p[0] & 0x7f) << 8) | p[1] : p[0];
    p += *p & 0x80 ? 2 : 1;
    if (p + n > end || n >= cap) return false;
    memcpy(out, p, n);
    o = n;
  } else {
    if (p + 2 > end) return false;
    size_t n = u16(p);
    p += 2;
    if (n & 0x8000) {
      if (p + 2 > end) return false;
      n = ((n & 0x7fff) << 16) | u16(p);
      p += 2;
    }
    if (p + 2 * n > end) return false;
    for (size_t i = 0; i < n; i++) {
      uint32_t c = u16(p + 2 * i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
        uint32_t lo = u16(p + 2 * (i + 1));
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
      if (o + 5 >= cap) return false;
      if (c < 0x80) {
        out[o++] = (char)c;
      } else if (c < 0x800) {
        out[o++] = (char)(0xc0 | (c >> 6));
        out[o++] = (char)(0x80 | (c & 0x3f));
      } else if (c < 0x10000) {
        out[o++] = (char)(0xe0 | (c >> 12));
        out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[o++] = (char)(0x80 | (c & 0x3f));
      } else {
        out[o++] = (char)(0xf0 | (c >> 18));
        out[o++] = (char)(0x80 | ((c >> 12) & 0x3f));
        out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[o++] = (char)(0x80 | (c & 0x3f));
      }
    }
  }
  out[o] = '\0';
  return true;
}

static uint32_t attr_res_id(const axml_t *a, uint32_t name_idx) {
  return name_idx < a->id_count ? u32(a->ids + 4 * (size_t)name_idx) : 0;
}

static int fail(const char *why) {
  fprintf(stderr, "apkinfo: %s\n", why);
  return 1;
}

static int parse_manifest(const uint8_t *d, size_t n) {
  if (n < 8 || u16(d) != RES_XML) return fail("not a binary XML file");
  size_t pos = u16(d + 2), total = u32(d + 4);
  if (total > n || pos < 8 || pos > total) return fail("truncated binary XML");
  axml_t a = {0};
  while (pos + 8 <= total) {
    const uint8_t *c = d + pos;
    uint16_t type = u16(c), hsize = u16(c + 2);
    uint32_t size = u32(c + 4);
    if (size < 8 || hsize > size || size > total - pos) return fail("malformed chunk");
    if (type == RES_STRING_POOL) {
      if (hsize < 28) return fail("malformed string pool");
      a.pool = c;
      a.pool_size = size;
      a.count = u32(c + 8);
      a.utf8 = (u32(c + 16) & UTF8_FLAG) != 0;
      if ((size_t)hsize + (size_t)a.count * 4 > size) return fail("malformed string pool");
    } else if (type == RES_XML_RESOURCE_MAP) {
      a.ids = c + hsize;
      a.id_count = (size - hsize) / 4;
    } else if (type == RES_XML_START_ELEMENT) {
      /* The first element is the root: it must be <manifest>. */
      if (hsize + 20u > size) return fail("malformed element");
      const uint8_t *ext = c + hsize;
      char name[256], value[1024];
      if (!pool_string(&a, u32(ext + 4), name, sizeof name) || strcmp(name, "manifest") != 0)
        return fail("root element is not <manifest>");
      uint16_t attr_start = u16(ext + 8), attr_size = u16(ext + 10), attr_count = u16(ext + 12);
      if (attr_size < 20 || (size_t)hsize + attr_start + (size_t)attr_size * attr_count > size)
        return fail("malformed attributes");
      char package[1024] = "", version_name[1024] = "";
      long long version_code = 0;
      for (uint16_t i = 0; i < attr_count; i++) {
        const uint8_t *at = ext + attr_start + (size_t)i * attr_size;
        uint32_t name_idx = u32(at + 4), raw = u32(at + 8), data = u32(at + 16);
        uint8_t data_type = at[15];
        uint32_t res = attr_res_id(&a, name_idx);
        if (!pool_string(&a, name_idx, name, sizeof name)) name[0] = '\0';
        bool has_string = (raw != NO_INDEX && pool_string(&a, raw, value, sizeof value)) ||
                          (data_type == TYPE_STRING && pool_string(&a, data, value, sizeof value));
        if (!strcmp(name, "package") && res == 0) {
          if (has_string) snprintf(package, sizeof package, "%s", value);
        } else if (res == ATTR_VERSION_CODE || (res == 0 && !strcmp(name, "versionCode"))) {
          if (data_type == TYPE_INT_DEC || data_type == TYPE_INT_HEX)
            version_code = (long long)(int32_t)data;
          else if (has_string)
            version_code = strtoll(value, NULL, 10);
        } else if (res == ATTR_VERSION_NAME || (res == 0 && !strcmp(name, "versionName"))) {
          if (has_string) snprintf(version_name, sizeof version_name, "%s", value);
        }
      }
      if (!package[0]) return fail("<manifest> has no package attribute");
      printf("package=%s\nversionCode=%lld\nversionName=%s\n", package, version_code, version_name);
      return 0;
    }
    pos += size;
  }
  return fail("no <manifest> element");
}

static uint8_t *read_all(FILE *f, size_t *n) {
  size_t cap = 65536, len = 0;
  uint8_t *d = malloc(cap);
  for (;;) {
    if (!d) return NULL;
    size_t r = fread(d + len, 1, cap - len, f);
    len += r;
    if (r == 0) break;
    if (len == cap) {
      if (cap >= MAX_INPUT) break;
      cap *= 2;
      d = realloc(d, cap);
    }
  }
  *n = len;
  return d;
}

/* Zip end of central directory: 22 bytes + up to 64 KiB comment at the end of the file. */
static int check_signed(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 2;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  long tail = size < 65557 ? size : 65557;
  uint8_t *buf = malloc((size_t)tail + 1);
  if (!buf || fseek(f, size - tail, SEEK_SET) != 0 || fread(buf, 1, (size_t)tail, f) != (size_t)tail) {
    fclose(f);
    free(buf);
    return 2;
  }
  long eocd = -1;
  for (long i = tail - 22; i >= 0; i--) {
    if (u32(buf + i) == 0x06054b50u) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    fclose(f);
    free(buf);
    fprintf(stderr, "apkinfo: %s is not a zip file\n", path);
    return 2;
  }
  uint32_t cd_size = u32(buf + eocd + 12), cd_offset = u32(buf + eocd + 16);
  free(buf);
  if ((long)cd_offset + (long)cd_size > size) {
    fclose(f);
    return 2;
  }
  int result = 1;
  /* v2/v3 scheme: the APK Signing Block sits right before the central directory and ends with its magic. */
  char magic[16];
  if (cd_offset >= 32 && fseek(f, (long)cd_offset - 16, SEEK_SET) == 0 && fread(magic, 1, 16, f) == 16 &&
      !memcmp(magic, "APK Sig Block 42", 16)) {
    result = 0;
  }
  /* v1 scheme: META-INF/<name>.RSA|.DSA|.EC signature files. */
  uint8_t *cd = malloc(cd_size ? cd_size : 1);
  if (result != 0 && cd && fseek(f, (long)cd_offset, SEEK_SET) == 0 && fread(cd, 1, cd_size, f) == cd_size) {
    for (size_t p = 0; p + 46 <= cd_size && u32(cd + p) == 0x02014b50u;) {
      size_t name_len = u16(cd + p + 28), extra = u16(cd + p + 30), comment = u16(cd + p + 32);
      if (p + 46 + name_len > cd_size) break;
      char name[512];
      size_t nl = name_len < sizeof name - 1 ? name_len : sizeof name - 1;
      memcpy(name, cd + p + 46, nl);
      name[nl] = '\0';
      const char *dot = strrchr(name, '.');
      if (!strncmp(name, "META-INF/", 9) && !strchr(name + 9, '/') && dot &&
          (!strcasecmp(dot, ".RSA") || !strcasecmp(dot, ".DSA") || !strcasecmp(dot, ".EC"))) {
        result = 0;
        break;
      }
      p += 46 + name_len + extra + comment;
    }
  }
  free(cd);
  fclose(f);
  return result;
}

int apkinfo_main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "manifest") && argc <= 3) {
    FILE *f = stdin;
    if (argc == 3 && strcmp(argv[2], "-") != 0) {
      f = fopen(argv[2], "rb");
      if (!f) {
        perror(argv[2]);
        return 1;
      }
    }
    size_t n = 0;
    uint8_t *d = read_all(f, &n);
    if (f != stdin) fclose(f);
    if (!d) return fail("out of memory");
    int rc = parse_manifest(d, n);
    free(d);
    return rc;
  }
  if (argc == 3 && !strcmp(argv[1], "signed")) return check_signed(argv[2]);
  fprintf(stderr, "usage: apkinfo manifest [FILE|-]\n       apkinfo signed APK\n");
  return 2;
}
