#pragma once

#include <glib/gi18n.h>
