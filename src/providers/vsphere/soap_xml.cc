// vim25 XML reading (see soap_xml.h).
#include "providers/vsphere/soap_xml.h"

#include <libxml/parser.h>
#include <libxml/xmlreader.h>

#include <memory>
#include <mutex>

namespace pp::providers::vsphere {
namespace {

struct ReaderFree {
  void operator()(xmlTextReaderPtr r) const { xmlFreeTextReader(r); }
};

constexpr char kXsiNamespace[] = "http://www.w3.org/2001/XMLSchema-instance";

void quietErrors(void*, const char*, ...) {}

std::string str(const xmlChar* s) {
  return s ? reinterpret_cast<const char*>(s) : std::string();
}

}  // namespace

const SoapNode* SoapNode::child(std::string_view n) const {
  for (const auto& c : children)
    if (c.name == n) return &c;
  return nullptr;
}

std::vector<const SoapNode*> SoapNode::all(std::string_view n) const {
  std::vector<const SoapNode*> out;
  for (const auto& c : children)
    if (c.name == n) out.push_back(&c);
  return out;
}

std::string SoapNode::childText(std::string_view n) const {
  const SoapNode* c = child(n);
  return c ? c->text : std::string();
}

std::string SoapNode::attribute(std::string_view n) const {
  for (const auto& [k, v] : attributes)
    if (k == n) return v;
  return {};
}

Result<SoapNode> parseSoapXml(std::string_view document, const SoapLimits& limits) {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
  if (document.size() > limits.maxBytes)
    return fail(Code::kResourceExhausted,
                "SOAP answer larger than " + std::to_string(limits.maxBytes) + " bytes");
  if (document.find("<!DOCTYPE") != std::string_view::npos ||
      document.find("<!ENTITY") != std::string_view::npos)
    return fail(Code::kInvalidArgument, "SOAP answer with a document type declaration refused");
  xmlSetGenericErrorFunc(nullptr, quietErrors);
  std::unique_ptr<xmlTextReader, ReaderFree> reader(xmlReaderForMemory(
      document.data(), static_cast<int>(document.size()), "soap.xml", nullptr,
      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA));
  if (!reader) return fail(Code::kInternal, "cannot start the XML reader");

  SoapNode root;
  std::vector<SoapNode*> open;  // path from the root to the current element
  bool haveRoot = false;
  size_t nodes = 0;
  int rc;
  while ((rc = xmlTextReaderRead(reader.get())) == 1) {
    int type = xmlTextReaderNodeType(reader.get());
    switch (type) {
      case XML_READER_TYPE_ELEMENT: {
        if (++nodes > limits.maxNodes)
          return fail(Code::kResourceExhausted, "SOAP answer has too many elements");
        if (static_cast<int>(open.size()) >= limits.maxDepth)
          return fail(Code::kResourceExhausted, "SOAP answer nested too deeply");
        SoapNode* node;
        if (open.empty()) {
          if (haveRoot) return fail(Code::kInvalidArgument, "SOAP answer has two roots");
          haveRoot = true;
          node = &root;
        } else {
          open.back()->children.emplace_back();
          node = &open.back()->children.back();
        }
        node->name = str(xmlTextReaderConstLocalName(reader.get()));
        bool empty = xmlTextReaderIsEmptyElement(reader.get()) == 1;
        while (xmlTextReaderMoveToNextAttribute(reader.get()) == 1) {
          if (xmlTextReaderIsNamespaceDecl(reader.get()) == 1) continue;
          // xsi:type (whatever the prefix) is kept apart from a plain type= attribute.
          std::string name = str(xmlTextReaderConstLocalName(reader.get()));
          if (str(xmlTextReaderConstNamespaceUri(reader.get())) == kXsiNamespace)
            name = "xsi:" + name;
          node->attributes.emplace_back(std::move(name),
                                        str(xmlTextReaderConstValue(reader.get())));
        }
        if (!empty) open.push_back(node);
        break;
      }
      case XML_READER_TYPE_END_ELEMENT:
        if (!open.empty()) open.pop_back();
        break;
      case XML_READER_TYPE_TEXT:
      case XML_READER_TYPE_CDATA:
      case XML_READER_TYPE_SIGNIFICANT_WHITESPACE:
        if (!open.empty()) open.back()->text += str(xmlTextReaderConstValue(reader.get()));
        break;
      case XML_READER_TYPE_WHITESPACE:
      case XML_READER_TYPE_COMMENT:
      case XML_READER_TYPE_PROCESSING_INSTRUCTION:
      case XML_READER_TYPE_XML_DECLARATION:
        break;
      default:
        return fail(Code::kInvalidArgument,
                    "SOAP answer contains an unsupported XML node (entity, DTD)");
    }
  }
  if (rc != 0 || !haveRoot || !open.empty()) {
    const xmlError* e = xmlGetLastError();
    std::string why = e && e->message ? e->message : "not well-formed";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    xmlResetLastError();
    return fail(Code::kInvalidArgument, "malformed SOAP answer: " + why);
  }
  return root;
}

}  // namespace pp::providers::vsphere
