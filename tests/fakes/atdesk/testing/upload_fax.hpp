// Submitting a fax to a running atdeskd the way a client does (POST /api/v1/jobs, multipart
// with `document` and `sender`), for the suites that drive the real daemon. Needs libcurl.
#pragma once

#include <curl/curl.h>

#include <filesystem>
#include <string>

#include "atdesk/testing/process_harness.hpp"

namespace atdesk::testing {

struct Upload {
  long status = 0;   // 0: no answer
  std::string body;  // atdeskd's JSON
};

// `dir`/fax-<pages>.tif made once with scripts/sample-fax of `source_dir`; its path, or "" when
// the script failed.
inline std::string sample_fax_file(const std::string& source_dir, const std::string& dir,
                                   int pages) {
  const std::string tif = dir + "/fax-" + std::to_string(pages) + ".tif";
  if (!std::filesystem::exists(tif) && run(source_dir + "/scripts/sample-fax " + tif + " " +
                                           std::to_string(pages) + " >/dev/null") != 0) {
    return {};
  }
  return tif;
}

// POST <base>/api/v1/jobs with the file and the sender, authenticated with `token`.
inline Upload upload_fax(const std::string& base, const std::string& token, const std::string& file,
                         const std::string& sender) {
  Upload r;
  CURL* c = curl_easy_init();
  curl_mime* mime = curl_mime_init(c);
  curl_mimepart* part = curl_mime_addpart(mime);
  curl_mime_name(part, "document");
  curl_mime_filedata(part, file.c_str());
  part = curl_mime_addpart(mime);
  curl_mime_name(part, "sender");
  curl_mime_data(part, sender.c_str(), CURL_ZERO_TERMINATED);
  const std::string url = base + "/api/v1/jobs";
  const std::string auth = "Authorization: Bearer " + token;
  curl_slist* headers = curl_slist_append(nullptr, auth.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_mime_free(mime);
  curl_easy_cleanup(c);
  return r;
}

}  // namespace atdesk::testing
