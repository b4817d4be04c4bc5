/*  files — divert-web's pages, scripts, style sheets and images, read
    from the static directory once at start and served from memory. Only
    files that are there at start exist, with names of letters, digits,
    '-', '_' and one '.'; no path from a request ever reaches the file
    system.
*/
#include "web.h"

#include <czmq.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#define S_MAX_FILES 64
#define S_MAX_SIZE (2 * 1024 * 1024)

typedef struct {
    char name [64];             //  "/partner.html"
    char *data;
    size_t size;
    const char *type;
} s_file_t;

struct _web_files_t {
    s_file_t files [S_MAX_FILES];
    int count;
};

static const char *
s_type (const char *name)
{
    static const char *types [][2] = {
        { ".html", "text/html; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" }, { ".svg", "image/svg+xml" },
        { ".png", "image/png" }, { ".ico", "image/x-icon" }, { ".txt", "text/plain; charset=utf-8" },
    };
    const char *dot = strrchr (name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types [0]; i++)
        if (streq (dot, types [i][0]))
            return types [i][1];
    return NULL;
}

static bool
s_plain (const char *name)
{
    size_t len = strlen (name);
    if (len == 0 || len > 60 || name [0] == '.')
        return false;
    return strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == len
        && strchr (name, '.') == strrchr (name, '.');
}

web_files_t *
web_files_new (const char *dir, char *error, size_t size)
{
    DIR *handle = opendir (dir);
    if (!handle) {
        snprintf (error, size, "%s: cannot read the static directory", dir);
        return NULL;
    }
    web_files_t *self = calloc (1, sizeof *self);
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        if (!s_plain (entry->d_name) || !s_type (entry->d_name))
            continue;
        if (self->count == S_MAX_FILES) {
            snprintf (error, size, "%s: more than %d files", dir, S_MAX_FILES);
            closedir (handle);
            web_files_destroy (&self);
            return NULL;
        }
        char path [1200];
        snprintf (path, sizeof path, "%s/%s", dir, entry->d_name);
        zchunk_t *chunk = zchunk_slurp (path, S_MAX_SIZE);
        if (!chunk)
            continue;
        s_file_t *file = &self->files [self->count++];
        snprintf (file->name, sizeof file->name, "/%.60s", entry->d_name);
        file->size = zchunk_size (chunk);
        file->data = malloc (file->size + 1);
        memcpy (file->data, zchunk_data (chunk), file->size);
        file->type = s_type (entry->d_name);
        zchunk_destroy (&chunk);
    }
    closedir (handle);
    const char *unused; size_t length; const char *type;
    if (!web_files_get (self, "/", &unused, &length, &type)) {
        snprintf (error, size, "%s: no index.html (is static_dir the pages' directory?)", dir);
        web_files_destroy (&self);
    }
    return self;
}

void
web_files_destroy (web_files_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    web_files_t *self = *self_p;
    for (int i = 0; i < self->count; i++)
        free (self->files [i].data);
    free (self);
    *self_p = NULL;
}

bool
web_files_get (web_files_t *self, const char *path, const char **data, size_t *size,
               const char **content_type)
{
    if (streq (path, "/"))
        path = "/index.html";
    for (int i = 0; i < self->count; i++)
        if (streq (self->files [i].name, path)) {
            *data = self->files [i].data;
            *size = self->files [i].size;
            *content_type = self->files [i].type;
            return true;
        }
    return false;
}
