// libpng's "simplified API" (png_image_*) is all qrpos uses: it reads any PNG into 8-bit grey
// and writes 8-bit grey, with errors reported in png_image.message instead of longjmp.
#include <png.h>
