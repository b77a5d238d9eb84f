#Requires -Version 7.2
<#
.SYNOPSIS
    Writes the module's help (MAML and about topics) from docs/en-US and the compiled cmdlets.

.DESCRIPTION
    The one help source is docs/en-US: a platyPS-layout markdown page per cmdlet, the module page and about_*.md
    topics. This script (platyPS is not available to the build) imports the built module and joins:

      from the compiled cmdlets (Get-Command)  syntax per parameter set, and per parameter its type, aliases,
                                               mandatory and position per set, pipeline input, wildcard support
      from the markdown page                   synopsis, description, examples, parameter descriptions, default
                                               values (the yaml block's "Default value"), inputs, outputs, notes,
                                               related links

    into <OutputPath>/<RootModule>-Help.xml, and each about_*.md into <OutputPath>/about_*.help.txt.

    It fails (exit 1, every problem on its own line naming the cmdlet and parameter) when an exported cmdlet has no
    page, a parameter has no description, a page documents a parameter the cmdlet no longer has, a page documents
    a cmdlet the module does not export, a cmdlet has fewer than 2 examples or no synopsis, or the module page does
    not list a cmdlet. The build runs it in a child pwsh, so the module never loads into the build's own session.

.EXAMPLE
    pwsh tools/Build-Help.ps1 -ModulePath out/ExecBridge/ExecBridge.psd1 -DocsPath docs/en-US -OutputPath out/ExecBridge/en-US
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $DocsPath,
    [Parameter(Mandatory)] [string] $OutputPath
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$MinimumExamples = 2
# Documented by about_CommonParameters, not by each page; WhatIf and Confirm are documented per cmdlet (as platyPS).
$CommonParameters = [System.Management.Automation.Cmdlet]::CommonParameters

#region Markdown

function Split-Section {
    # Splits lines at headings of one level ('## ' or '### '), outside fenced code: @{ Title = ...; Lines = ... }.
    param([string[]] $Lines, [string] $Marker)
    $sections = [System.Collections.Generic.List[object]]::new()
    $current = $null
    $inFence = $false
    foreach ($line in $Lines) {
        if ($line -match '^```') { $inFence = -not $inFence }
        if (-not $inFence -and $line.StartsWith($Marker)) {
            $current = [pscustomobject]@{ Title = $line.Substring($Marker.Length).Trim(); Lines = [System.Collections.Generic.List[string]]::new() }
            $sections.Add($current)
        }
        elseif ($current) { $current.Lines.Add($line) }
    }
    $sections
}

function ConvertTo-Paragraph {
    # Markdown prose to help paragraphs: blank lines separate them, wrapped lines join, a list item or a fenced
    # block (kept verbatim, fences dropped) is a paragraph of its own.
    param([string[]] $Lines)
    $paragraphs = [System.Collections.Generic.List[string]]::new()
    $buffer = [System.Collections.Generic.List[string]]::new()
    $fence = $null
    $flush = { if ($buffer.Count) { $paragraphs.Add(($buffer -join ' ').Trim()); $buffer.Clear() } }
    foreach ($line in $Lines) {
        if ($null -ne $fence) {
            if ($line -match '^```') { $paragraphs.Add(($fence -join "`n")); $fence = $null } else { $fence.Add($line) }
            continue
        }
        if ($line -match '^```') { & $flush; $fence = [System.Collections.Generic.List[string]]::new(); continue }
        if ($line.Trim() -eq '') { & $flush; continue }
        if ($line -match '^\s*([-*]|\d+\.)\s') { & $flush }
        $buffer.Add($line.Trim())
    }
    & $flush
    , $paragraphs.ToArray()
}

function Read-CommandPage {
    param([string] $Path)
    $lines = [IO.File]::ReadAllLines($Path)
    # YAML front matter: '---' ... '---' at the top.
    if ($lines.Count -and $lines[0] -eq '---') {
        $end = [array]::IndexOf($lines, '---', 1)
        $lines = $lines[($end + 1)..($lines.Count - 1)]
    }
    $name = ($lines | Where-Object { $_ -match '^# ' } | Select-Object -First 1) -replace '^# ', ''
    $sections = @{}
    foreach ($s in Split-Section $lines '## ') { $sections[$s.Title.ToUpperInvariant()] = $s.Lines.ToArray() }
    $section = { param($title) if ($sections.ContainsKey($title)) { $sections[$title] } else { @() } }

    $examples = foreach ($e in Split-Section (& $section 'EXAMPLES') '### ') {
        $code = [System.Collections.Generic.List[string]]::new()
        $prose = [System.Collections.Generic.List[string]]::new()
        $inCode = $false
        foreach ($line in $e.Lines) {
            if ($line -match '^```') { $inCode = -not $inCode; continue }
            if ($inCode) { $code.Add($line) } else { $prose.Add($line) }
        }
        [pscustomobject]@{ Title = $e.Title; Code = ($code -join "`n").Trim(); Remarks = ConvertTo-Paragraph $prose }
    }

    $parameters = [ordered]@{}
    foreach ($p in Split-Section (& $section 'PARAMETERS') '### ') {
        if ($p.Title -notmatch '^-(\S+)') { continue }  # '### CommonParameters'
        $parameterName = $Matches[1]
        $firstYaml = [array]::IndexOf($p.Lines.ToArray(), '```yaml')
        $prose = if ($firstYaml -ge 0) { $p.Lines.GetRange(0, $firstYaml) } else { $p.Lines }
        # Each ```yaml block: 'Key: value' lines (platyPS writes one block per group of sets that agree).
        $blocks = [System.Collections.Generic.List[hashtable]]::new()
        $block = $null
        foreach ($line in $p.Lines) {
            if ($line -eq '```yaml') { $block = @{}; continue }
            if ($null -ne $block -and $line -match '^```') { $blocks.Add($block); $block = $null; continue }
            if ($null -ne $block -and $line -match '^([^:]+):\s*(.*)$') { $block[$Matches[1].Trim()] = $Matches[2].Trim() }
        }
        $default = $blocks | ForEach-Object { $_['Default value'] } | Where-Object { $_ } | Select-Object -First 1
        $parameters[$parameterName] = [pscustomobject]@{ Description = ConvertTo-Paragraph $prose; DefaultValue = "$default"; Yaml = $blocks.ToArray() }
    }

    $typed = { param($title)
        foreach ($t in Split-Section (& $section $title) '### ') { [pscustomobject]@{ Type = $t.Title; Description = ConvertTo-Paragraph $t.Lines } }
    }
    $links = foreach ($line in & $section 'RELATED LINKS') {
        if ($line -match '\[([^\]]+)\]\(([^)]*)\)') {
            # Pages link each other by file; only a web address is an online link Get-Help -Online can open.
            [pscustomobject]@{ Text = $Matches[1]; Uri = if ($Matches[2] -match '^https?://') { $Matches[2] } else { '' } }
        }
    }
    [pscustomobject]@{
        Name        = $name.Trim()
        Path        = $Path
        Synopsis    = (ConvertTo-Paragraph (& $section 'SYNOPSIS')) -join ' '
        Description = ConvertTo-Paragraph (& $section 'DESCRIPTION')
        Examples    = @($examples)
        Parameters  = $parameters
        Inputs      = @(& $typed 'INPUTS')
        Outputs     = @(& $typed 'OUTPUTS')
        Notes       = ConvertTo-Paragraph (& $section 'NOTES')
        Links       = @($links)
    }
}

#endregion

#region Checks

function Test-CommandPage {
    # Every problem of one cmdlet and its page, as messages that say what to change where.
    param([System.Management.Automation.CommandInfo] $Command, $Page, [string] $PageName)
    $name = $Command.Name
    if (-not $Page.Synopsis) { "${name}: no synopsis in $PageName (the paragraph under '## SYNOPSIS')." }
    $count = $Page.Examples.Count
    if ($count -lt $MinimumExamples) {
        "${name}: $count example$(if ($count -ne 1) { 's' }) in $PageName; at least $MinimumExamples are required ('### Example N: title', a powershell block, then what it does)."
    }
    foreach ($e in $Page.Examples) {
        if (-not $e.Code) { "${name}: example '$($e.Title)' in $PageName has no powershell code block." }
    }
    $actual = @($Command.Parameters.Keys | Where-Object { $_ -notin $CommonParameters })
    foreach ($p in $actual) {
        if (-not $Page.Parameters.Contains($p)) {
            "${name} -${p}: not documented in $PageName; add a '### -$p' section under '## PARAMETERS' (description, then the yaml block)."
        }
        elseif (-not ($Page.Parameters[$p].Description -join '').Trim()) {
            "${name} -${p}: no description in $PageName; write one under '### -$p', above its yaml block."
        }
    }
    foreach ($p in $Page.Parameters.Keys) {
        if ($p -notin $actual) { "${name} -${p}: $PageName documents -$p, which the cmdlet does not have; remove its '### -$p' section." }
    }
}

function Test-YamlBlock {
    # The yaml blocks are for readers of the markdown; Get-Help shows the compiled metadata. A block that no longer
    # agrees with the cmdlet misleads those readers, so it fails the build and names what to correct.
    param([System.Management.Automation.CommandInfo] $Command, $Page, [string] $PageName)
    foreach ($name in @($Page.Parameters.Keys)) {
        $meta = $Command.Parameters[$name]
        if (-not $meta) { continue }
        foreach ($yaml in $Page.Parameters[$name].Yaml) {
            $where = "$($Command.Name) -${name}: the yaml block in $PageName"
            if ($yaml['Type'] -and $yaml['Type'] -ne $meta.ParameterType.Name) { "$where says Type: $($yaml['Type']); the cmdlet's is $($meta.ParameterType.Name)." }
            $sets = if ($yaml['Parameter Sets'] -in '(All)', '') { @($meta.ParameterSets.Keys) } else { @($yaml['Parameter Sets'] -split ',\s*') }
            foreach ($set in $sets) {
                $actual = $meta.ParameterSets[$set] ?? $meta.ParameterSets['__AllParameterSets']
                if (-not $actual) { "$where names parameter set '$set', which the parameter is not in."; continue }
                if ($yaml['Required'] -and $yaml['Required'] -ne "$($actual.IsMandatory)") { "$where says Required: $($yaml['Required']) in set '$set'; the cmdlet says $($actual.IsMandatory)." }
                $position = if ($actual.Position -lt 0) { 'Named' } else { "$($actual.Position)" }
                if ($yaml['Position'] -and $yaml['Position'] -ne $position) { "$where says Position: $($yaml['Position']) in set '$set'; the cmdlet says $position." }
            }
            $wildcards = "$([bool]($meta.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] }))"
            if ($yaml['Accept wildcard characters'] -and $yaml['Accept wildcard characters'] -ne $wildcards) {
                "$where says Accept wildcard characters: $($yaml['Accept wildcard characters']); the cmdlet says $wildcards ([SupportsWildcards])."
            }
            $inSets = @(foreach ($set in $sets) { $meta.ParameterSets[$set] ?? $meta.ParameterSets['__AllParameterSets'] }) | Where-Object { $_ }
            $pipeline = @(if ($inSets | Where-Object ValueFromPipeline) { 'ByValue' }; if ($inSets | Where-Object ValueFromPipelineByPropertyName) { 'ByPropertyName' })
            $pipelineText = if ($pipeline) { "True ($($pipeline -join ', '))" } else { 'False' }
            if ($yaml['Accept pipeline input'] -and $yaml['Accept pipeline input'] -ne $pipelineText) {
                "$where says Accept pipeline input: $($yaml['Accept pipeline input']); the cmdlet says $pipelineText."
            }
        }
    }
}

#endregion

#region MAML

$Ns = @{
    Msh     = 'http://msh'
    Maml    = 'http://schemas.microsoft.com/maml/2004/10'
    Command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    Dev     = 'http://schemas.microsoft.com/maml/dev/2004/10'
}

function Write-Element([System.Xml.XmlWriter] $W, [string] $Prefix, [string] $Name, [string] $Text) {
    $W.WriteElementString($Prefix, $Name, $Ns[$Prefix], $Text)
}

function Write-Paragraph([System.Xml.XmlWriter] $W, [string[]] $Paragraphs, [string] $Element = 'description') {
    $W.WriteStartElement('maml', $Element, $Ns.Maml)
    foreach ($p in $Paragraphs) { Write-Element $W maml para $p }
    $W.WriteEndElement()
}

function Write-Parameter {
    # One <command:parameter>; $Set is the parameter's metadata in one set (syntax) or $null (the parameter list).
    param([System.Xml.XmlWriter] $W, [System.Management.Automation.ParameterMetadata] $Meta, $Doc, $Set)
    $sets = @($Meta.ParameterSets.Values)
    $mandatory = if ($Set) { $Set.IsMandatory } else { @($sets | Where-Object IsMandatory).Count -eq $sets.Count }
    $positions = @(if ($Set) { $Set.Position } else { $sets.Position }) | Where-Object { $_ -ge 0 } | Sort-Object -Unique
    $byValue = if ($Set) { $Set.ValueFromPipeline } else { [bool]($sets | Where-Object ValueFromPipeline) }
    $byName = if ($Set) { $Set.ValueFromPipelineByPropertyName } else { [bool]($sets | Where-Object ValueFromPipelineByPropertyName) }
    $pipeline = @(if ($byValue) { 'ByValue' }; if ($byName) { 'ByPropertyName' })
    $wildcards = [bool]($Meta.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
    $isArray = $Meta.ParameterType.IsArray

    $W.WriteStartElement('command', 'parameter', $Ns.Command)
    $W.WriteAttributeString('required', "$mandatory".ToLowerInvariant())
    $W.WriteAttributeString('variableLength', "$isArray".ToLowerInvariant())
    $W.WriteAttributeString('globbing', "$wildcards".ToLowerInvariant())
    $W.WriteAttributeString('pipelineInput', $(if ($pipeline) { "True ($($pipeline -join ', '))" } else { 'False' }))
    $W.WriteAttributeString('position', $(if (@($positions).Count) { "$(@($positions)[0])" } else { 'named' }))
    $W.WriteAttributeString('aliases', $(if ($Meta.Aliases.Count) { $Meta.Aliases -join ', ' } else { 'none' }))
    Write-Element $W maml name $Meta.Name
    Write-Paragraph $W $Doc.Description
    if (-not $Meta.SwitchParameter) {
        $W.WriteStartElement('command', 'parameterValue', $Ns.Command)
        $W.WriteAttributeString('required', 'true')
        $W.WriteAttributeString('variableLength', "$isArray".ToLowerInvariant())
        $W.WriteString($Meta.ParameterType.Name)  # the short name Get-Help shows: String[], SecureString
        $W.WriteEndElement()
    }
    $W.WriteStartElement('dev', 'type', $Ns.Dev)
    Write-Element $W maml name $Meta.ParameterType.FullName
    $W.WriteEndElement()
    $default = if ($Doc.DefaultValue) { $Doc.DefaultValue } elseif ($Meta.SwitchParameter) { 'False' } else { 'None' }
    Write-Element $W dev defaultValue $default
    $W.WriteEndElement()
}

function Get-SyntaxOrder($SetParameters) {
    # As Get-Command -Syntax: positional by position, then mandatory, then the rest as declared.
    $SetParameters | Sort-Object @{ Expression = { if ($_.Position -ge 0) { $_.Position } else { [int]::MaxValue } } },
        @{ Expression = { -not $_.IsMandatory } } -Stable
}

function Write-Command {
    param([System.Xml.XmlWriter] $W, [System.Management.Automation.CommandInfo] $Command, $Page)
    $W.WriteStartElement('command', 'command', $Ns.Command)
    $W.WriteAttributeString('xmlns', 'maml', $null, $Ns.Maml)
    $W.WriteAttributeString('xmlns', 'command', $null, $Ns.Command)
    $W.WriteAttributeString('xmlns', 'dev', $null, $Ns.Dev)

    $W.WriteStartElement('command', 'details', $Ns.Command)
    Write-Element $W command name $Command.Name
    Write-Element $W command verb $Command.Verb
    Write-Element $W command noun $Command.Noun
    Write-Paragraph $W @($Page.Synopsis)
    $W.WriteEndElement()

    Write-Paragraph $W $Page.Description

    $W.WriteStartElement('command', 'syntax', $Ns.Command)
    # The default set first, as Get-Command shows it.
    foreach ($set in $Command.ParameterSets | Sort-Object { -not $_.IsDefault } -Stable) {
        $W.WriteStartElement('command', 'syntaxItem', $Ns.Command)
        Write-Element $W maml name $Command.Name
        foreach ($p in Get-SyntaxOrder ($set.Parameters | Where-Object Name -notin $CommonParameters)) {
            $meta = $Command.Parameters[$p.Name]
            $setMeta = $meta.ParameterSets[$set.Name] ?? $meta.ParameterSets['__AllParameterSets']
            Write-Parameter $W $meta $Page.Parameters[$p.Name] $setMeta
        }
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'parameters', $Ns.Command)
    foreach ($name in $Command.Parameters.Keys | Where-Object { $_ -notin $CommonParameters } | Sort-Object) {
        Write-Parameter $W $Command.Parameters[$name] $Page.Parameters[$name] $null
    }
    $W.WriteEndElement()

    foreach ($kind in @(@{ List = 'inputTypes'; Item = 'inputType'; Entries = $Page.Inputs }, @{ List = 'returnValues'; Item = 'returnValue'; Entries = $Page.Outputs })) {
        $W.WriteStartElement('command', $kind.List, $Ns.Command)
        foreach ($entry in $kind.Entries) {
            $W.WriteStartElement('command', $kind.Item, $Ns.Command)
            $W.WriteStartElement('dev', 'type', $Ns.Dev)
            Write-Element $W maml name $entry.Type
            $W.WriteEndElement()
            Write-Paragraph $W $entry.Description
            $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }

    if ($Page.Notes) {
        $W.WriteStartElement('maml', 'alertSet', $Ns.Maml)
        Write-Paragraph $W $Page.Notes 'alert'
        $W.WriteEndElement()
    }

    $W.WriteStartElement('command', 'examples', $Ns.Command)
    $n = 0
    foreach ($e in $Page.Examples) {
        $n++
        # The page's '### Example 1: title' becomes the banner Get-Help prints for built-in cmdlets.
        $title = $e.Title -replace '^Example\s+\d+\s*:?\s*', ''
        $W.WriteStartElement('command', 'example', $Ns.Command)
        Write-Element $W maml title "-------------------------- Example ${n}: $title --------------------------"
        Write-Element $W dev code $e.Code
        $W.WriteStartElement('dev', 'remarks', $Ns.Dev)
        foreach ($p in $e.Remarks) { Write-Element $W maml para $p }
        Write-Element $W maml para ''  # Get-Help prints the next example's banner right below otherwise
        $W.WriteEndElement()
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'relatedLinks', $Ns.Command)
    foreach ($l in $Page.Links) {
        $W.WriteStartElement('maml', 'navigationLink', $Ns.Maml)
        Write-Element $W maml linkText $l.Text
        Write-Element $W maml uri $l.Uri
        $W.WriteEndElement()
    }
    $W.WriteEndElement()
    $W.WriteEndElement()
}

#endregion

#region About topics

function Format-Wrapped([string] $Text, [int] $Indent, [int] $Width = 80) {
    $pad = ' ' * $Indent
    $line = ''
    foreach ($word in $Text -split '\s+' | Where-Object { $_ }) {
        if ($line -and ($pad.Length + $line.Length + 1 + $word.Length) -gt $Width) { "$pad$line"; $line = $word }
        else { $line = if ($line) { "$line $word" } else { $word } }
    }
    if ($line) { "$pad$line" }
}

function ConvertTo-AboutText {
    # about_X.md (platyPS layout: '# SHORT DESCRIPTION', '# LONG DESCRIPTION', other '# ' headings, '## ' subheadings)
    # to the plain-text layout Get-Help about_X shows: headings in capitals, text indented 4, code indented 8.
    param([string] $Path)
    $topic = [IO.Path]::GetFileNameWithoutExtension($Path)
    $out = [System.Collections.Generic.List[string]]::new()
    $out.Add('TOPIC'); $out.Add("    $topic"); $out.Add('')
    $lines = [IO.File]::ReadAllLines($Path)
    $body = [System.Collections.Generic.List[string]]::new()
    $started = $false
    $flush = {
        $paragraphs = ConvertTo-Paragraph $body
        foreach ($p in $paragraphs) {
            if ($p.Contains("`n")) { $p -split "`n" | ForEach-Object { $out.Add("        $_".TrimEnd()) } }
            elseif ($p -match '^([-*]|\d+\.)\s') {
                # A list item: its continuation lines hang under its text.
                $wrapped = @(Format-Wrapped $p 6)
                $out.Add('    ' + $wrapped[0].TrimStart()); $wrapped | Select-Object -Skip 1 | ForEach-Object { $out.Add($_) }
            }
            else { Format-Wrapped $p 4 | ForEach-Object { $out.Add($_) } }
            $out.Add('')
        }
        $body.Clear()
    }
    foreach ($line in $lines) {
        # The title lines ('# ExecBridge', '## about_ExecBridge') come before the first section heading.
        if ($line -match '^# (SHORT DESCRIPTION|LONG DESCRIPTION)') { $started = $true }
        if (-not $started) { continue }
        if ($line -match '^(#{1,3}) (.+)$') {
            & $flush
            if ($Matches[1] -eq '#') { $out.Add($Matches[2].ToUpperInvariant()) } else { $out.Add("  $($Matches[2])"); $out.Add('') }
            continue
        }
        $body.Add($line)
    }
    & $flush
    ($out -join [Environment]::NewLine).TrimEnd() + [Environment]::NewLine
}

#endregion

$module = Import-Module (Resolve-Path $ModulePath).Path -PassThru -Force
$commands = @(Get-Command -Module $module.Name -CommandType Cmdlet, Function | Sort-Object Name)
$docs = (Resolve-Path $DocsPath).Path
$problems = [System.Collections.Generic.List[string]]::new()

$pages = @{}
foreach ($file in Get-ChildItem $docs -Filter '*.md' | Where-Object { $_.BaseName -notlike 'about_*' -and $_.BaseName -ne $module.Name }) {
    $page = Read-CommandPage $file.FullName
    if ($page.Name -ne $file.BaseName) { $problems.Add("docs/en-US/$($file.Name): its '# ' title is '$($page.Name)'; it must be the cmdlet name, $($file.BaseName).") }
    if ($file.BaseName -notin $commands.Name) { $problems.Add("$($file.BaseName): docs/en-US/$($file.Name) documents a cmdlet the module does not export; remove the page or export the cmdlet.") }
    $pages[$file.BaseName] = $page
}

$modulePage = Join-Path $docs "$($module.Name).md"
$listed = if (Test-Path $modulePage) { @(Get-Content $modulePage | Where-Object { $_ -match '^### \[([^\]]+)\]' } | ForEach-Object { $Matches[1] }) } else { @() }
foreach ($c in $commands) {
    $pageName = "docs/en-US/$($c.Name).md"
    if (-not $pages.ContainsKey($c.Name)) { $problems.Add("$($c.Name): no help page; write $pageName (the platyPS layout of the other pages)."); continue }
    foreach ($p in Test-CommandPage $c $pages[$c.Name] $pageName) { $problems.Add($p) }
    foreach ($p in Test-YamlBlock $c $pages[$c.Name] $pageName) { $problems.Add($p) }
    if ($c.Name -notin $listed) { $problems.Add("$($c.Name): not listed in docs/en-US/$($module.Name).md; add '### [$($c.Name)]($($c.Name).md)' and its synopsis.") }
}

if ($problems.Count) {
    [Console]::Error.WriteLine("Build-Help: the help in docs/en-US does not match the module ($($problems.Count) problem$(if ($problems.Count -ne 1) { 's' })):")
    foreach ($p in $problems) { [Console]::Error.WriteLine("  $p") }
    exit 1
}

$null = New-Item -ItemType Directory -Path $OutputPath -Force
# Named after the module's assembly, where PowerShell looks for a binary cmdlet's help.
$mamlPath = Join-Path $OutputPath "$([IO.Path]::GetFileName($module.RootModule))-Help.xml"
$settings = [System.Xml.XmlWriterSettings]@{ Indent = $true; Encoding = [Text.UTF8Encoding]::new($false) }
$writer = [System.Xml.XmlWriter]::Create($mamlPath, $settings)
try {
    $writer.WriteStartDocument()
    $writer.WriteStartElement('helpItems', $Ns.Msh)
    $writer.WriteAttributeString('schema', 'maml')
    foreach ($c in $commands) { Write-Command $writer $c $pages[$c.Name] }
    $writer.WriteEndElement()
    $writer.WriteEndDocument()
}
finally { $writer.Dispose() }
Write-Host "Wrote $mamlPath ($($commands.Count) cmdlets)"

foreach ($about in Get-ChildItem $docs -Filter 'about_*.md') {
    $target = Join-Path $OutputPath "$($about.BaseName).help.txt"
    [IO.File]::WriteAllText($target, (ConvertTo-AboutText $about.FullName))
    Write-Host "Wrote $target"
}
