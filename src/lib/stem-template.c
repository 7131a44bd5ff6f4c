#include "stem-template.h"

#include "stem-error.h"
#include "stem-i18n.h"

#include <string.h>

#define KNOWN_PLACEHOLDERS "%n %N %h %I %i %d %%"

typedef void (*PlaceholderFunc) (char placeholder, gpointer user_data);
typedef void (*LiteralFunc) (const char *text, gsize len, gpointer user_data);

/* Calls VISIT for every placeholder of TMPL (with the character after the "%")
 * and LITERAL for the text between them.  Fails on a syntax error. */
static gboolean
template_walk (const char *tmpl, PlaceholderFunc visit, LiteralFunc literal, gpointer user_data,
               GError **error)
{
  const char *p = tmpl;
  while (*p != '\0')
    {
      const char *percent = strchr (p, '%');
      if (percent == NULL)
        {
          literal (p, strlen (p), user_data);
          break;
        }
      literal (p, percent - p, user_data);

      char c = percent[1];
      if (c == '\0')
        return stem_throw_code (error, STEM_ERROR_CONFIG, _ ("Template “%s” ends with a lone “%%”"),
                                tmpl);
      if (strchr ("nNhIid%", c) == NULL)
        {
          /* Quote the whole character after "%", which may be multibyte. */
          gunichar u = g_utf8_get_char_validated (percent + 1, -1);
          gsize len = (u == (gunichar)-1 || u == (gunichar)-2)
                          ? 1
                          : (gsize)(g_utf8_next_char (percent + 1) - (percent + 1));
          g_autofree char *placeholder = g_strndup (percent, len + 1);
          return stem_throw_code (error, STEM_ERROR_CONFIG,
                                  _ ("Unknown placeholder “%s” in “%s” (known: %s)"), placeholder,
                                  tmpl, KNOWN_PLACEHOLDERS);
        }
      visit (c, user_data);
      p = percent + 2;
    }
  return TRUE;
}

typedef struct
{
  GString *out;
  const StemTemplateContext *ctx;
} ExpandState;

static void
expand_literal (const char *text, gsize len, gpointer user_data)
{
  ExpandState *state = user_data;
  g_string_append_len (state->out, text, len);
}

static const char *
or_empty (const char *s)
{
  return s != NULL ? s : "";
}

static void
expand_placeholder (char placeholder, gpointer user_data)
{
  ExpandState *state = user_data;
  const StemTemplateContext *ctx = state->ctx;

  switch (placeholder)
    {
    case 'n':
      g_string_append (state->out, or_empty (ctx->node));
      break;
    case 'N':
      {
        g_autofree char *upper = g_ascii_strup (or_empty (ctx->node), -1);
        g_string_append (state->out, upper);
      }
      break;
    case 'h':
      g_string_append (state->out, or_empty (ctx->host));
      break;
    case 'I':
    case 'i':
      g_string_append_printf (state->out, "%u", ctx->index);
      break;
    case 'd':
      g_string_append (state->out, or_empty (ctx->timestamp));
      break;
    case '%':
      g_string_append_c (state->out, '%');
      break;
    default:
      g_assert_not_reached ();
    }
}

char *
stem_template_expand (const char *tmpl, const StemTemplateContext *ctx, GError **error)
{
  g_return_val_if_fail (tmpl != NULL, NULL);
  g_return_val_if_fail (ctx != NULL, NULL);

  g_autoptr (GString) out = g_string_new (NULL);
  ExpandState state = { out, ctx };
  if (!template_walk (tmpl, expand_placeholder, expand_literal, &state, error))
    return NULL;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
ignore_literal (const char *text, gsize len, gpointer user_data)
{
}

static void
collect_placeholder (char placeholder, gpointer user_data)
{
  GString *seen = user_data;
  if (strchr (seen->str, placeholder) == NULL)
    g_string_append_c (seen, placeholder);
}

/* The placeholders TMPL uses, as a string of the characters after each "%". */
static char *
template_placeholders (const char *tmpl, GError **error)
{
  g_autoptr (GString) seen = g_string_new (NULL);
  if (!template_walk (tmpl, collect_placeholder, ignore_literal, seen, error))
    return NULL;
  return g_string_free (g_steal_pointer (&seen), FALSE);
}

gboolean
stem_template_validate (const char *tmpl, GError **error)
{
  g_return_val_if_fail (tmpl != NULL, FALSE);

  g_autofree char *placeholders = template_placeholders (tmpl, error);
  return placeholders != NULL;
}

gboolean
stem_template_check_pidfile (const char *tmpl, guint n_nodes, GError **error)
{
  g_return_val_if_fail (tmpl != NULL, FALSE);

  g_autofree char *placeholders = template_placeholders (tmpl, error);
  if (placeholders == NULL)
    return FALSE;

  if (tmpl[0] == '\0')
    return stem_throw_code (error, STEM_ERROR_CONFIG, _ ("The pidfile template is empty"));

  static const char unstable[] = { 'd', 'I', 'i' };
  for (gsize i = 0; i < G_N_ELEMENTS (unstable); i++)
    if (strchr (placeholders, unstable[i]) != NULL)
      {
        char placeholder[] = { '%', unstable[i], '\0' };
        return stem_throw_code (
            error, STEM_ERROR_CONFIG,
            _ ("Pidfile template “%s” must not use “%s”: it changes from one call to the next, so "
               "stop and status could not find the pidfile again"),
            tmpl, placeholder);
      }

  if (n_nodes > 1 && strchr (placeholders, 'n') == NULL)
    return stem_throw_code (
        error, STEM_ERROR_CONFIG,
        _ ("Pidfile template “%s” does not use “%s”: all %u nodes would share one pidfile"), tmpl,
        "%n", n_nodes);

  return TRUE;
}

char *
stem_template_timestamp (gint64 unix_us)
{
  gint64 seconds = unix_us / G_USEC_PER_SEC;
  if (unix_us % G_USEC_PER_SEC < 0)
    seconds--;

  g_autoptr (GDateTime) utc = g_date_time_new_from_unix_utc (seconds);
  g_return_val_if_fail (utc != NULL, NULL);
  return g_date_time_format (utc, "%Y-%m-%dT%H-%M-%SZ");
}
