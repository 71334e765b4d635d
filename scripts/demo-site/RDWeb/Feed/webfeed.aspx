<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection PubDate="2026-11-24T00:00:00Z" SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher LastUpdated="2026-11-24T00:00:00Z" Name="Demo Apps" ID="demo" Description="A sample workspace">
    <Resources>
      <Resource ID="notepad" Alias="notepad" Title="Notepad" LastUpdated="2026-11-24T00:00:00Z" Type="RemoteApp" ShowByDefault="True">
        <Icons />
        <FileExtensions>
          <FileExtension Name=".txt" PrimaryHandler="True" />
        </FileExtensions>
        <Folders><Folder Name="/Accessories" /></Folders>
        <HostingTerminalServers>
          <HostingTerminalServer>
            <ResourceFile FileExtension=".rdp" URL="/RDWeb/Pages/rdp/notepad.rdp" />
            <TerminalServerRef Ref="rdsh1" />
          </HostingTerminalServer>
        </HostingTerminalServers>
      </Resource>
      <Resource ID="desktop" Title="Demo Desktop" LastUpdated="2026-11-24T00:00:00Z" Type="Desktop">
        <Icons />
        <HostingTerminalServers>
          <HostingTerminalServer>
            <ResourceFile FileExtension=".rdp" URL="/RDWeb/Pages/rdp/desktop.rdp" />
            <TerminalServerRef Ref="rdsh1" />
          </HostingTerminalServer>
        </HostingTerminalServers>
      </Resource>
    </Resources>
    <TerminalServers>
      <TerminalServer ID="rdsh1" Name="rdsh1.demo.test" LastUpdated="2026-11-24T00:00:00Z" />
    </TerminalServers>
  </Publisher>
</ResourceCollection>
