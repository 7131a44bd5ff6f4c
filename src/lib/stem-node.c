#include "stem-node.h"

#include "stem-error.h"
#include "stem-i18n.h"

#include <string.h>

static gboolean
is_name_char (char c)
{
  return g_ascii_isalnum (c) || c == '.' || c == '_' || c == '-';
}

/* Names come from the command line and end up in error messages, which must
 * be valid UTF-8. */
static char *
printable (const char *text)
{
  gboolean plain = g_utf8_validate (text, -1, NULL);
  for (const char *p = text; plain && *p != '\0'; p++)
    if (g_ascii_iscntrl (*p))
      plain = FALSE;
  return plain ? g_strdup (text) : g_strescape (text, NULL);
}

/* The character at P, as text for an error message. */
static char *
printable_char (const char *p)
{
  gunichar c = g_utf8_get_char_validated (p, -1);
  if (c == (gunichar)-1 || c == (gunichar)-2 || g_unichar_iscntrl (c))
    return g_strdup_printf ("\\x%02X", (guchar)*p);
  return g_strndup (p, g_utf8_next_char (p) - p);
}

/* Returns why NAME is not a valid node name, or NULL if it is. */
static char *
name_problem (const char *name)
{
  if (name[0] == '\0')
    return g_strdup (_ ("the name is empty"));
  if (!g_ascii_isalnum (name[0]))
    return g_strdup (_ ("it must start with an ASCII letter or digit"));
  for (const char *p = name; *p != '\0'; p++)
    if (!is_name_char (*p))
      {
        g_autofree char *c = printable_char (p);
        return g_strdup_printf (_ ("bad character “%s” (use letters, digits, “.”, “_” and “-”)"),
                                c);
      }
  if (strlen (name) > STEM_NODE_NAME_MAX)
    return g_strdup_printf (_ ("it is too long (max %d characters)"), STEM_NODE_NAME_MAX);
  return NULL;
}

gboolean
stem_node_name_validate (const char *name, GError **error)
{
  g_return_val_if_fail (name != NULL, FALSE);

  g_autofree char *problem = name_problem (name);
  if (problem != NULL)
    {
      g_autofree char *shown = printable (name);
      return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Invalid node name “%s”: %s"), shown,
                              problem);
    }
  return TRUE;
}

static gboolean
is_count (const char *word)
{
  if (word[0] == '\0')
    return FALSE;
  for (const char *p = word; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return TRUE;
}

static gboolean
parse_count (const char *word, guint *out_count, GError **error)
{
  /* "007" could be a count of 7 or a node named "007"; refuse to guess. */
  if (word[0] == '0' && word[1] != '\0')
    return stem_throw_code (error, STEM_ERROR_USAGE,
                            _ ("Ambiguous node count “%s”: a count must not start with 0"), word);

  guint64 count;
  if (!g_ascii_string_to_unsigned (word, 10, 1, STEM_NODE_COUNT_MAX, &count, NULL))
    return stem_throw_code (error, STEM_ERROR_USAGE,
                            _ ("Invalid node count “%s”: it must be between 1 and %d"), word,
                            STEM_NODE_COUNT_MAX);
  *out_count = (guint)count;
  return TRUE;
}

static gboolean
add_node (GPtrArray *nodes, GHashTable *seen, char *name, GError **error)
{
  g_autofree char *owned = name;
  if (g_hash_table_contains (seen, owned))
    return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Duplicate node “%s”"), owned);
  g_hash_table_add (seen, owned);
  g_ptr_array_add (nodes, g_steal_pointer (&owned));
  return TRUE;
}

gboolean
stem_nodes_expand (const char *const *words, const char *prefix, GStrv *out_nodes, GError **error)
{
  g_return_val_if_fail (prefix != NULL, FALSE);
  g_return_val_if_fail (out_nodes != NULL, FALSE);

  g_autoptr (GPtrArray) nodes = g_ptr_array_new_with_free_func (g_free);
  /* The set borrows the strings owned by NODES. */
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (gsize i = 0; words != NULL && words[i] != NULL; i++)
    {
      const char *word = words[i];
      if (!is_count (word))
        {
          if (!stem_node_name_validate (word, error))
            return FALSE;
          if (!add_node (nodes, seen, g_strdup (word), error))
            return FALSE;
          continue;
        }

      guint count = 0;
      if (!parse_count (word, &count, error))
        return FALSE;

      /* The longest generated name is the one to check: all share the prefix. */
      g_autofree char *last = g_strdup_printf ("%s%u", prefix, count);
      g_autofree char *problem = name_problem (last);
      /* "2" with --prefix= would name node 2, which no word can name
       * alone: it reads as a count. */
      if (problem == NULL && prefix[strspn (prefix, "0123456789")] == '\0')
        problem = g_strdup (_ ("the names would be made of digits only, which read as counts"));
      if (problem != NULL)
        {
          g_autofree char *shown = printable (prefix);
          return stem_throw_code (error, STEM_ERROR_USAGE,
                                  _ ("Invalid node prefix “%s” for node count %u: %s"), shown,
                                  count, problem);
        }

      for (guint n = 1; n <= count; n++)
        if (!add_node (nodes, seen, g_strdup_printf ("%s%u", prefix, n), error))
          return FALSE;
    }

  g_ptr_array_add (nodes, NULL);
  *out_nodes = (GStrv)g_ptr_array_free (g_steal_pointer (&nodes), FALSE);
  return TRUE;
}

GStrv
stem_nodes_split (const char *value)
{
  g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);

  const char *p = value != NULL ? value : "";
  while (*p != '\0')
    {
      gsize len = strcspn (p, " \t\n");
      if (len > 0)
        g_ptr_array_add (words, g_strndup (p, len));
      p += len;
      if (*p != '\0')
        p++;
    }

  g_ptr_array_add (words, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&words), FALSE);
}
