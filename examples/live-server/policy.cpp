// Policy (see policy.h).
#include "policy.h"

#include <libsoup/soup.h>

#include <algorithm>

namespace live_server {

bool Policy::allow(const std::string& action, const std::string& app, const std::string& key,
                   const std::string& query, const std::string& client_address, std::string& why) const {
  if (action == "publish" && !config_.publish_keys.empty()) {
    const std::string with_query = query.empty() ? key : key + "?" + query;
    const auto& keys = config_.publish_keys;
    if (std::find(keys.begin(), keys.end(), key) == keys.end() &&
        std::find(keys.begin(), keys.end(), with_query) == keys.end()) {
      why = "key not in the allow-list";
      return false;
    }
  }
  if (!config_.auth_callback.empty())
    return ask_callback(action, app, key, query, client_address, why);
  return true;
}

bool Policy::ask_callback(const std::string& action, const std::string& app, const std::string& key,
                          const std::string& query, const std::string& client_address,
                          std::string& why) const {
  // The address without its port, as nginx-rtmp's addr.
  std::string addr = client_address;
  if (auto colon = addr.rfind(':'); colon != std::string::npos) addr.resize(colon);
  GHashTable* form = g_hash_table_new(g_str_hash, g_str_equal);
  g_hash_table_insert(form, const_cast<char*>("action"), const_cast<char*>(action.c_str()));
  g_hash_table_insert(form, const_cast<char*>("app"), const_cast<char*>(app.c_str()));
  g_hash_table_insert(form, const_cast<char*>("key"), const_cast<char*>(key.c_str()));
  g_hash_table_insert(form, const_cast<char*>("addr"), const_cast<char*>(addr.c_str()));
  g_hash_table_insert(form, const_cast<char*>("query"), const_cast<char*>(query.c_str()));
  SoupMessage* msg = soup_message_new_from_encoded_form("POST", config_.auth_callback.c_str(),
                                                        soup_form_encode_hash(form));
  g_hash_table_unref(form);
  if (!msg) {
    why = "auth callback URL is not valid";
    return false;
  }
  // One session per question: decisions run on several threads at once.
  SoupSession* session = soup_session_new_with_options("timeout", kAuthCallbackTimeoutS, nullptr);
  GError* error = nullptr;
  GBytes* body = soup_session_send_and_read(session, msg, nullptr, &error);
  const guint status = soup_message_get_status(msg);
  bool allowed = false;
  if (error) {
    why = std::string("auth callback failed: ") + error->message;
    g_clear_error(&error);
  } else if (SOUP_STATUS_IS_SUCCESSFUL(status)) {
    allowed = true;
  } else {
    why = "auth callback answered " + std::to_string(status);
  }
  if (body) g_bytes_unref(body);
  g_object_unref(msg);
  g_object_unref(session);
  return allowed;
}

}  // namespace live_server
