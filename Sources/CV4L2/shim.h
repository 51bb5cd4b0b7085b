// Swift cannot import two things libv4l2 needs:
//  - v4l2_open and v4l2_ioctl are C-variadic ("Variadic function is unavailable"), so they are
//    wrapped here with a fixed third argument;
//  - the VIDIOC_* request codes and V4L2_PIX_FMT_* fourccs are function-like macros (_IOWR,
//    v4l2_fourcc), so each one qrpos uses is exposed as a static inline function.
// Nothing else belongs here: everything Swift can import directly is used directly.
#ifndef QRPOS_CV4L2_SHIM_H
#define QRPOS_CV4L2_SHIM_H

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/videodev2.h>
#include <libv4l2.h>

_Static_assert(sizeof(struct v4l2_capability) == 104, "v4l2_capability layout changed");
_Static_assert(sizeof(struct v4l2_format) == 208, "v4l2_format layout changed");
_Static_assert(sizeof(struct v4l2_buffer) == 88, "v4l2_buffer layout changed (64-bit ABI expected)");

static inline int qrpos_v4l2_open(const char *path, int flags) { return v4l2_open(path, flags); }
static inline int qrpos_v4l2_ioctl(int fd, unsigned long request, void *arg) { return v4l2_ioctl(fd, request, arg); }

static inline unsigned long qrpos_VIDIOC_QUERYCAP(void) { return VIDIOC_QUERYCAP; }
static inline unsigned long qrpos_VIDIOC_ENUM_FMT(void) { return VIDIOC_ENUM_FMT; }
static inline unsigned long qrpos_VIDIOC_ENUM_FRAMESIZES(void) { return VIDIOC_ENUM_FRAMESIZES; }
static inline unsigned long qrpos_VIDIOC_ENUM_FRAMEINTERVALS(void) { return VIDIOC_ENUM_FRAMEINTERVALS; }
static inline unsigned long qrpos_VIDIOC_G_FMT(void) { return VIDIOC_G_FMT; }
static inline unsigned long qrpos_VIDIOC_S_FMT(void) { return VIDIOC_S_FMT; }
static inline unsigned long qrpos_VIDIOC_REQBUFS(void) { return VIDIOC_REQBUFS; }
static inline unsigned long qrpos_VIDIOC_QUERYBUF(void) { return VIDIOC_QUERYBUF; }
static inline unsigned long qrpos_VIDIOC_QBUF(void) { return VIDIOC_QBUF; }
static inline unsigned long qrpos_VIDIOC_DQBUF(void) { return VIDIOC_DQBUF; }
static inline unsigned long qrpos_VIDIOC_STREAMON(void) { return VIDIOC_STREAMON; }
static inline unsigned long qrpos_VIDIOC_STREAMOFF(void) { return VIDIOC_STREAMOFF; }
static inline unsigned long qrpos_VIDIOC_QUERYCTRL(void) { return VIDIOC_QUERYCTRL; }
static inline unsigned long qrpos_VIDIOC_S_CTRL(void) { return VIDIOC_S_CTRL; }
static inline unsigned long qrpos_VIDIOC_G_CTRL(void) { return VIDIOC_G_CTRL; }

static inline unsigned int qrpos_V4L2_PIX_FMT_GREY(void) { return V4L2_PIX_FMT_GREY; }
static inline unsigned int qrpos_V4L2_PIX_FMT_YUYV(void) { return V4L2_PIX_FMT_YUYV; }
static inline unsigned int qrpos_V4L2_PIX_FMT_MJPEG(void) { return V4L2_PIX_FMT_MJPEG; }
static inline unsigned int qrpos_V4L2_PIX_FMT_RGB24(void) { return V4L2_PIX_FMT_RGB24; }

#endif
