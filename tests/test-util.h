#pragma once

#include <glib.h>

/* A scratch directory for one test, removed with everything in it after. */
typedef struct
{
  char *dir;
} StemScratch;

void stem_scratch_setup (StemScratch *scratch, gconstpointer data);
void stem_scratch_teardown (StemScratch *scratch, gconstpointer data);
