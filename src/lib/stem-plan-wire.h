#pragma once

#include <glib.h>

#include "stem-plan.h"

G_BEGIN_DECLS

/* Node plans as data, for handing a finished plan to another process (the
 * supervisor) without it having to plan again, and so without it linking
 * what planning needs (routing files, JSON).  GLib only. */

/* PLANS (StemNodePlan *) and EXTRA (any value the receiver expects) as one
 * serialized GVariant. */
GVariant *stem_plan_wire_pack (GPtrArray *plans, GVariant *extra);

/* The reverse: OUT_PLANS gets new plans (freed with stem_node_plan_free),
 * OUT_EXTRA the extra value.  STEM_ERROR_FAILED when DATA is not what
 * stem_plan_wire_pack made. */
gboolean stem_plan_wire_unpack (GBytes *data, GPtrArray **out_plans, GVariant **out_extra,
                                GError **error);

G_END_DECLS
