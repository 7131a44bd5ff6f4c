#include "stem-options.h"

#include <string.h>

#include "stem-duration.h"
#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-node.h"

static void
option_value_free (gpointer data)
{
  StemOptionValue *v = data;
  g_free (v->selector);
  g_free (v->value);
  g_free (v);
}

void
stem_args_free (StemArgs *args)
{
  if (args == NULL)
    return;
  g_ptr_array_unref (args->values);
  g_ptr_array_unref (args->positionals);
  g_strfreev (args->trailing);
  g_free (args);
}

static const StemOptionSpec *
find_long (const StemOptionSpec *specs, const char *name, gsize len)
{
  for (const StemOptionSpec *s = specs; s->long_name != NULL; s++)
    if (strlen (s->long_name) == len && strncmp (s->long_name, name, len) == 0)
      return s;
  return NULL;
}

static const StemOptionSpec *
find_short (const StemOptionSpec *specs, char c)
{
  for (const StemOptionSpec *s = specs; s->long_name != NULL; s++)
    if (s->short_name != 0 && s->short_name == c)
      return s;
  return NULL;
}

/* Takes the option body after "--" or "-": NAME[:SELECTOR][=VALUE].  For a
 * short option, NAME is one character and a value may follow it directly. */
static gboolean
parse_one (const StemOptionSpec *specs, gboolean is_long, const char *body, int argc, char **argv,
           int *inout_i, StemArgs *args, GError **error)
{
  const char *display = argv[*inout_i];
  const StemOptionSpec *spec;
  const char *rest;

  if (is_long)
    {
      gsize len = strcspn (body, ":=");
      spec = find_long (specs, body, len);
      if (spec == NULL)
        return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Unknown option “--%.*s” (see --help)"),
                                (int)len, body);
      rest = body + len;
    }
  else
    {
      spec = find_short (specs, body[0]);
      if (spec == NULL)
        return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Unknown option “-%c” (see --help)"),
                                body[0]);
      rest = body + 1;
    }

  g_autofree char *selector = NULL;
  if (*rest == ':')
    {
      if (!(spec->flags & STEM_OPTION_PER_NODE))
        return stem_throw_code (error, STEM_ERROR_USAGE,
                                _ ("Option “--%s” cannot be given per node (in “%s”)"),
                                spec->long_name, display);
      rest++;
      gsize len = strcspn (rest, "=");
      if (len == 0)
        return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Empty node selector in “%s”"),
                                display);
      selector = g_strndup (rest, len);
      rest += len;
    }

  g_autofree char *value = NULL;
  if (spec->arg_name == NULL)
    {
      if (*rest != '\0')
        return stem_throw_code (error, STEM_ERROR_USAGE,
                                _ ("Option “--%s” takes no value (in “%s”)"), spec->long_name,
                                display);
    }
  else if (*rest == '=')
    value = g_strdup (rest + 1);
  else if (*rest != '\0' && !is_long && selector == NULL)
    value = g_strdup (rest); /* -qdefault */
  else if (*rest != '\0')
    return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Malformed option “%s”"), display);
  else if (*inout_i + 1 < argc && strcmp (argv[*inout_i + 1], "--") != 0)
    value = g_strdup (argv[++*inout_i]);
  else
    return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Option “--%s” needs a value (%s)"),
                            spec->long_name, _ (spec->arg_name));

  StemOptionValue *v = g_new0 (StemOptionValue, 1);
  v->spec = spec;
  v->selector = g_steal_pointer (&selector);
  v->value = g_steal_pointer (&value);
  g_ptr_array_add (args->values, v);
  return TRUE;
}

StemArgs *
stem_args_parse (const StemOptionSpec *specs, int argc, char **argv, GError **error)
{
  g_autoptr (StemArgs) args = g_new0 (StemArgs, 1);
  args->values = g_ptr_array_new_with_free_func (option_value_free);
  args->positionals = g_ptr_array_new_with_free_func (g_free);

  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i];
      if (strcmp (arg, "--") == 0)
        {
          args->trailing = g_strdupv (argv + i + 1);
          break;
        }
      if (g_str_has_prefix (arg, "--"))
        {
          if (!parse_one (specs, TRUE, arg + 2, argc, argv, &i, args, error))
            return NULL;
        }
      else if (arg[0] == '-' && arg[1] != '\0')
        {
          if (!parse_one (specs, FALSE, arg + 1, argc, argv, &i, args, error))
            return NULL;
        }
      else
        g_ptr_array_add (args->positionals, g_strdup (arg));
    }
  if (args->trailing == NULL)
    args->trailing = g_new0 (char *, 1);
  return g_steal_pointer (&args);
}

gboolean
stem_args_has (StemArgs *args, StemOptionId id)
{
  for (guint i = 0; i < args->values->len; i++)
    {
      StemOptionValue *v = args->values->pdata[i];
      if (v->spec->id == id)
        return TRUE;
    }
  return FALSE;
}

static const StemOptionValue *
find_global (StemArgs *args, StemOptionId id)
{
  const StemOptionValue *found = NULL;
  for (guint i = 0; i < args->values->len; i++)
    {
      StemOptionValue *v = args->values->pdata[i];
      if (v->spec->id == id && v->selector == NULL)
        found = v;
    }
  return found;
}

const char *
stem_args_get (StemArgs *args, StemOptionId id)
{
  const StemOptionValue *v = find_global (args, id);
  return v != NULL ? v->value : NULL;
}

gboolean
stem_args_get_duration (StemArgs *args, StemOptionId id, gint64 *out_ms, GError **error)
{
  const StemOptionValue *v = find_global (args, id);
  if (v == NULL || stem_duration_parse (v->value, out_ms, error))
    return TRUE;
  stem_error_prefix (error, "--%s", v->spec->long_name);
  return FALSE;
}

static gboolean
parse_position (const char *text, guint64 *out, const char *selector, GError **error)
{
  if (!g_ascii_string_to_unsigned (text, 10, 1, G_MAXUINT, out, NULL))
    return stem_throw_code (error, STEM_ERROR_USAGE,
                            _ ("Invalid position “%s” in node selector “%s”"), text, selector);
  return TRUE;
}

gboolean
stem_selector_match (const char *selector, const char *node, guint index, gboolean *out_match,
                     GError **error)
{
  g_auto (GStrv) items = g_strsplit (selector, ",", -1);
  gboolean match = FALSE;
  for (char **it = items; *it != NULL; it++)
    {
      const char *item = *it;
      if (*item == '\0')
        return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Empty item in node selector “%s”"),
                                selector);
      if (g_ascii_isdigit (item[0]))
        {
          const char *dash = strchr (item, '-');
          guint64 lo, hi;
          if (dash != NULL)
            {
              g_autofree char *first = g_strndup (item, dash - item);
              if (!parse_position (first, &lo, selector, error)
                  || !parse_position (dash + 1, &hi, selector, error))
                return FALSE;
              if (hi < lo)
                return stem_throw_code (error, STEM_ERROR_USAGE,
                                        _ ("Empty range “%s” in node selector “%s”"), item,
                                        selector);
            }
          else
            {
              if (!parse_position (item, &lo, selector, error))
                return FALSE;
              hi = lo;
            }
          if (index >= lo && index <= hi)
            match = TRUE;
        }
      else if (!stem_node_name_validate (item, error))
        {
          stem_error_prefix (error, _ ("Node selector “%s”"), selector);
          return FALSE;
        }
      else if (strcmp (item, node) == 0)
        match = TRUE;
    }
  *out_match = match;
  return TRUE;
}

gboolean
stem_args_check_selectors (StemArgs *args, const char *const *nodes, GError **error)
{
  for (guint i = 0; i < args->values->len; i++)
    {
      StemOptionValue *v = args->values->pdata[i];
      if (v->selector == NULL)
        continue;
      gboolean any = FALSE;
      for (guint n = 0; nodes[n] != NULL; n++)
        {
          gboolean match;
          if (!stem_selector_match (v->selector, nodes[n], n + 1, &match, error))
            return FALSE;
          any = any || match;
        }
      if (!any)
        return stem_throw_code (error, STEM_ERROR_USAGE,
                                _ ("Selector “%s” of option “--%s” matches no node of this call"),
                                v->selector, v->spec->long_name);
    }
  return TRUE;
}

static gboolean
value_applies (StemOptionValue *v, const char *node, guint index)
{
  gboolean match = FALSE;
  /* Selectors were validated by stem_args_check_selectors. */
  return stem_selector_match (v->selector, node, index, &match, NULL) && match;
}

const char *
stem_args_get_for_node (StemArgs *args, StemOptionId id, const char *node, guint index)
{
  const char *global = NULL, *scoped = NULL;
  for (guint i = 0; i < args->values->len; i++)
    {
      StemOptionValue *v = args->values->pdata[i];
      if (v->spec->id != id)
        continue;
      if (v->selector == NULL)
        global = v->value;
      else if (value_applies (v, node, index))
        scoped = v->value;
    }
  return scoped != NULL ? scoped : global;
}

gboolean
stem_args_scoped_for_node (StemArgs *args, StemOptionId id, const char *node, guint index)
{
  for (guint i = 0; i < args->values->len; i++)
    {
      StemOptionValue *v = args->values->pdata[i];
      if (v->spec->id == id && v->selector != NULL && value_applies (v, node, index))
        return TRUE;
    }
  return FALSE;
}

GStrv
stem_args_get_all_for_node (StemArgs *args, StemOptionId id, const char *node, guint index)
{
  g_autoptr (GPtrArray) global = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) scoped = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < args->values->len; i++)
    {
      StemOptionValue *v = args->values->pdata[i];
      if (v->spec->id != id)
        continue;
      if (v->selector == NULL)
        g_ptr_array_add (global, g_strdup (v->value));
      else if (value_applies (v, node, index))
        g_ptr_array_add (scoped, g_strdup (v->value));
    }
  GPtrArray *chosen = scoped->len > 0 ? g_steal_pointer (&scoped) : g_steal_pointer (&global);
  g_ptr_array_add (chosen, NULL);
  return (GStrv)g_ptr_array_free (chosen, FALSE);
}

void
stem_options_print_help (const StemOptionSpec *specs, GString *out)
{
  for (const StemOptionSpec *s = specs; s->long_name != NULL; s++)
    {
      g_autoptr (GString) left = g_string_new ("  ");
      if (s->short_name != 0)
        g_string_append_printf (left, "-%c, ", s->short_name);
      else
        g_string_append (left, "    ");
      g_string_append_printf (left, "--%s", s->long_name);
      if (s->flags & STEM_OPTION_PER_NODE)
        g_string_append (left, "[:SEL]");
      if (s->arg_name != NULL)
        g_string_append_printf (left, "=%s", _ (s->arg_name));
      if (g_utf8_strlen (left->str, -1) < 32)
        g_string_append_printf (out, "%s%*s%s\n", left->str,
                                (int)(32 - g_utf8_strlen (left->str, -1)), "", _ (s->description));
      else
        g_string_append_printf (out, "%s\n%32s%s\n", left->str, "", _ (s->description));
    }
}

StemArgs *
stem_args_parse_main (const StemOptionSpec *specs, int argc, char **argv, void (*usage) (void),
                      int *out_exit)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (StemArgs) args = stem_args_parse (specs, argc, argv, &error);
  if (args == NULL)
    {
      stem_error_print (error);
      *out_exit = STEM_EXIT_USAGE;
      return NULL;
    }
  if (stem_args_has (args, STEM_OPT_HELP))
    {
      usage ();
      *out_exit = STEM_EXIT_OK;
      return NULL;
    }
  if (stem_args_has (args, STEM_OPT_VERSION))
    {
      g_print ("%s %s\n", g_get_prgname (), PACKAGE_VERSION);
      *out_exit = STEM_EXIT_OK;
      return NULL;
    }
  return g_steal_pointer (&args);
}
