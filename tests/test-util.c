#include "test-util.h"

#include <glib/gstdio.h>
#include <sys/stat.h>

void
stem_scratch_setup (StemScratch *scratch, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  scratch->dir = g_dir_make_tmp ("stem-test-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
remove_tree (const char *path)
{
  struct stat st;
  if (lstat (path, &st) < 0)
    return;
  if (!S_ISDIR (st.st_mode))
    {
      g_unlink (path);
      return;
    }
  g_chmod (path, 0700); /* a test may have made it unreadable */
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      remove_tree (child);
    }
  g_rmdir (path);
}

void
stem_scratch_teardown (StemScratch *scratch, gconstpointer data)
{
  remove_tree (scratch->dir);
  g_free (scratch->dir);
}
