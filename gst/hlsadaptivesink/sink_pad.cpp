// GstHlsSinkPad: hlsadaptivesink's request pads, with the per-variant properties.
#include "sink_pad.h"

struct _GstHlsSinkPad {
  GstPad parent;
  gchar* variant_name;
  guint bitrate;
};

G_DEFINE_TYPE(GstHlsSinkPad, gst_hls_sink_pad, GST_TYPE_PAD)

enum { PROP_PAD_0, PROP_PAD_VARIANT_NAME, PROP_PAD_BITRATE };

static void gst_hls_sink_pad_set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
  auto* pad = GST_HLS_SINK_PAD(object);
  GST_OBJECT_LOCK(pad);
  switch (id) {
    case PROP_PAD_VARIANT_NAME:
      g_free(pad->variant_name);
      pad->variant_name = g_value_dup_string(value);
      break;
    case PROP_PAD_BITRATE: pad->bitrate = g_value_get_uint(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(pad);
}

static void gst_hls_sink_pad_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  auto* pad = GST_HLS_SINK_PAD(object);
  GST_OBJECT_LOCK(pad);
  switch (id) {
    case PROP_PAD_VARIANT_NAME: g_value_set_string(value, pad->variant_name); break;
    case PROP_PAD_BITRATE: g_value_set_uint(value, pad->bitrate); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(pad);
}

static void gst_hls_sink_pad_finalize(GObject* object) {
  g_free(GST_HLS_SINK_PAD(object)->variant_name);
  G_OBJECT_CLASS(gst_hls_sink_pad_parent_class)->finalize(object);
}

static void gst_hls_sink_pad_class_init(GstHlsSinkPadClass* klass) {
  auto* gobject_class = G_OBJECT_CLASS(klass);
  gobject_class->set_property = gst_hls_sink_pad_set_property;
  gobject_class->get_property = gst_hls_sink_pad_get_property;
  gobject_class->finalize = gst_hls_sink_pad_finalize;
  g_object_class_install_property(
      gobject_class, PROP_PAD_VARIANT_NAME,
      g_param_spec_string("variant-name", "Variant name",
                          "Name of this variant (its directory / file prefix); default: <height>p, "
                          "or the pad name when heights repeat",
                          nullptr, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      gobject_class, PROP_PAD_BITRATE,
      g_param_spec_uint("bitrate", "Bitrate", "BANDWIDTH to announce in bits/s (0 = measured peak)", 0,
                        G_MAXUINT, 0, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
}

static void gst_hls_sink_pad_init(GstHlsSinkPad*) {}

std::string gst_hls_sink_pad_variant_name(GstPad* pad) {
  auto* sp = GST_HLS_SINK_PAD(pad);
  std::string name;
  GST_OBJECT_LOCK(sp);
  if (sp->variant_name) name = sp->variant_name;
  GST_OBJECT_UNLOCK(sp);
  return name;
}

guint gst_hls_sink_pad_bitrate(GstPad* pad) {
  auto* sp = GST_HLS_SINK_PAD(pad);
  GST_OBJECT_LOCK(sp);
  const guint bitrate = sp->bitrate;
  GST_OBJECT_UNLOCK(sp);
  return bitrate;
}
