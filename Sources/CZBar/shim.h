// zbar.h imports as is; this header exists so the module map has one place to include it.
#include <zbar.h>
